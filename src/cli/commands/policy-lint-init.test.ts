import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { REPO_ROOT } from '../../../test/support/fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'kubetrail-init-'))
const ctx = { stdin: new PassThrough(), cwd: dir, isTTY: false }
async function run(args: string[]) {
  const r = await invoke(args, ctx)
  return { out: r.result ? await collectOutput(r.result) : '', code: r.result?.exitCode ?? r.exitCode, err: r.error ? renderError(r.error, false) : '' }
}

describe('kubetrail policy lint', () => {
  it('--json prints {id, line, severity, message} and exits 1 on errors', async () => {
    const r = await run(['policy', 'lint', resolve(REPO_ROOT, 'examples/policies/comprehensive.yaml'), '--json'])
    const findings = JSON.parse(r.out) as Array<Record<string, unknown>>
    expect(r.code).toBe(1)
    expect(Object.keys(findings[0]!).sort()).toEqual(['id', 'line', 'message', 'severity'])
    expect(findings.map((f) => `${f['line']} ${f['id']}`)).toEqual(['12 shadowed-rule', '19 sensitive-data-logged', '29 exec-create-only'])
  })

  it('prints file:line: severity id: message, and reads --kubernetes-version', async () => {
    const f = join(dir, 'omf.yaml')
    writeFileSync(f, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nomitManagedFields: true\nrules:\n  - level: Metadata\n')
    const old = await run(['policy', 'lint', f, '--kubernetes-version', '1.22'])
    expect(old.code).toBe(0)
    expect(old.out).toMatch(new RegExp(`^${f}:4: warning loader-warning: omitManagedFields: omitManagedFields is ignored by Kubernetes 1.22`, 'm'))
    expect((await run(['policy', 'lint', f])).out).toBe(`${f}: no findings\n`)
  })

  it('warnings alone exit 0; a policy that does not load exits 1 with its errors', async () => {
    expect((await run(['policy', 'lint', resolve(REPO_ROOT, 'examples/policies/seed-main.yaml')])).code).toBe(0)
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Loud\n')
    const r = await run(['policy', 'lint', bad])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/bad\.yaml:4:12: rules\[0\]\.level: Unsupported value/)
  })
})

describe('kubetrail policy init', () => {
  it('prints the comprehensive preset by default, which checks and lints clean', async () => {
    const r = await run(['policy', 'init'])
    expect(r.out).toMatch(/^# kubetrail preset: comprehensive/)
    const f = join(dir, 'printed.yaml')
    writeFileSync(f, r.out)
    expect((await run(['policy', 'check', f])).code).toBe(0)
    expect((await run(['policy', 'lint', f])).out).toContain('no findings')
  })

  it('writes a file readable only by its owner and refuses to overwrite without --force', async () => {
    const r = await run(['policy', 'init', '--preset', 'low-write', '--file', 'audit-policy.yaml'])
    expect(r.code).toBe(0)
    const path = join(dir, 'audit-policy.yaml')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readFileSync(path, 'utf8')).toContain('# kubetrail preset: low-write')
    const again = await run(['policy', 'init', '-f', 'audit-policy.yaml'])
    expect(again.code).toBe(1)
    expect(again.err).toMatch(/already exists \[KT_FILE_EXISTS\]\nhint: Use --force/)
    expect((await run(['policy', 'init', '--file', 'audit-policy.yaml', '--force'])).code).toBe(0)
    expect(readFileSync(path, 'utf8')).toContain('# kubetrail preset: comprehensive')
  })

  it('-o is an output format everywhere: policy init refuses it and names --file, writing nothing', async () => {
    for (const flag of ['-o', '--output']) {
      const r = await run(['policy', 'init', flag, 'json'])
      expect(r.code).toBe(2)
      expect(r.err).toMatch(/policy init writes a file with --file, not -o\/--output \("json"\) \[KT_USAGE\]\nhint: .*kubetrail policy init --preset comprehensive --file json/)
      expect(existsSync(join(dir, 'json'))).toBe(false)
    }
  })

  it('every preset, as printed, passes policy check and has no lint findings', async () => {
    for (const preset of ['minimal', 'comprehensive', 'compliance', 'low-write']) {
      const f = join(dir, `${preset}.yaml`)
      writeFileSync(f, (await run(['policy', 'init', '--preset', preset])).out)
      expect((await run(['policy', 'check', f])).code, preset).toBe(0)
      expect((await run(['policy', 'lint', f, '--json'])).out, preset).toBe('[]\n')
    }
  })

  it('lists presets and rejects unknown ones', async () => {
    expect((await run(['policy', 'init', '--list'])).out.split('\n').filter(Boolean)).toHaveLength(4)
    expect((await run(['policy', 'init', '--preset', 'everything'])).code).toBe(2)
  })
})
