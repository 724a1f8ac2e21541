import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { FIXTURES_DIR, requireFixture } from '../../../test/support/fixtures.js'

async function run(args: string[]) {
  const r = await invoke(args, { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false })
  return { out: r.result ? await collectOutput(r.result) : r.printed, err: r.error ? renderError(r.error, false) : (r.result?.warnings ?? []).join('\n'), code: r.error ? r.exitCode : (r.result?.exitCode ?? 0) }
}
const LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))

describe('kubetrail detect / rules / alerts (CLI)', () => {
  it('detect over a file: alerts at or above --severity, exit 1 when any', async () => {
    const r = await run(['detect', LOG, '--severity', 'high'])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/CRITICAL\s+cluster-admin-binding\s+admin bound cluster-admin: clusterrolebindings bob-cluster-admin/)
    expect(r.out).not.toMatch(/WARNING/)
    const json = JSON.parse((await run(['detect', LOG, '-o', 'json'])).out) as Array<{ rule: string }>
    expect(json.some((a) => a.rule === 'exec-into-pod')).toBe(true)
    const ndjson = (await run(['detect', LOG, '-o', 'ndjson'])).out.trim().split('\n').map((l) => JSON.parse(l) as { rule: string })
    expect(ndjson).toEqual(json)
  })

  it('detect over the store, after an import', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-detect-')), 'data')
    await run(['import', LOG, '--data-dir', dir, '--cluster', 'c1'])
    const r = await run(['detect', '--data-dir', dir, '--severity', 'critical', '-o', 'ndjson'])
    expect(r.out.trim().split('\n').map((l) => JSON.parse(l) as { rule: string; cluster: string })).toEqual([expect.objectContaining({ rule: 'cluster-admin-binding', cluster: 'c1' })])
  })

  it('rules check: the built-in pack is valid; a broken file is reported with positions and exit 1', async () => {
    expect((await run(['rules', 'check'])).out).toMatch(/^28 valid rule\(s\), 0 problem\(s\)$/m)
    const bad = join(mkdtempSync(join(tmpdir(), 'kubetrail-rules-')), 'bad.yaml')
    writeFileSync(bad, 'rules:\n  - id: x\n    title: t\n    severity: info\n    condition: objectRef.resourc == "pods"\n    output: x\n')
    const r = await run(['rules', 'check', bad])
    expect(r.code).toBe(1)
    expect(r.out).toContain(`${bad}:5:16: rules[0].condition: CEL: No such key: resourc`)
  })

  it('rules coverage: exit 1 when a rule can never fire', async () => {
    const r = await run(['rules', 'coverage', '--policy', resolve(import.meta.dirname, '../../../examples/policies/minimal.yaml')])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/NEVER\s+privileged-pod/)
  })

  it('alerts: none recorded yet', async () => {
    expect((await run(['alerts', '--data-dir', mkdtempSync(join(tmpdir(), 'kubetrail-alerts-'))])).out).toBe('no alerts\n')
  })
})
