import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { FIXTURES_DIR, REPO_ROOT, requireFixture } from '../../../test/support/fixtures.js'
import type { SimulationSummary, PolicyDiffSummary } from '../../policy/index.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }
async function run(args: string[]) {
  const r = await invoke(args, ctx)
  if (r.error) throw r.error
  const out = await collectOutput(r.result!)
  return { out, code: r.result!.exitCode ?? 0, warnings: r.result!.warnings ?? [] }
}
const FULL_LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))
const POLICIES = ['minimal', 'comprehensive', 'compliance', 'low-write', 'seed-main', 'full'].map((p) => resolve(REPO_ROOT, 'examples/policies', `${p}.yaml`))

describe('kubetrail policy simulate', () => {
  it.each(POLICIES)('summary figures equal the NDJSON output exactly for %s', async (policy) => {
    const summary = JSON.parse((await run(['policy', 'simulate', policy, FULL_LOG, '-o', 'json'])).out) as SimulationSummary
    const ndjson = (await run(['policy', 'simulate', policy, FULL_LOG, '-o', 'ndjson'])).out
    const lines = ndjson.split('\n').filter(Boolean)
    expect(summary.kept.events).toBe(lines.length)
    // bytes computed from spans in the recorded lines == bytes of the events actually produced
    expect(summary.kept.bytes).toBe(Buffer.byteLength(ndjson))
    expect(summary.input.events).toBe(1891)
    expect(summary.kept.events + summary.dropped.levelNone.events + summary.dropped.stageOmitted.events).toBe(1891)
    const byRule = summary.byRule.reduce((n, r) => n + r.events, 0)
    expect(byRule).toBe(summary.kept.events)
  })

  it('the full policy replays every event byte for byte', async () => {
    const full = POLICIES[5]!
    const ndjson = (await run(['policy', 'simulate', full, FULL_LOG, '-o', 'ndjson'])).out
    expect(ndjson).toBe(readFileSync(FULL_LOG, 'utf8'))
  })

  it('drops managedFields where the policy omits them and accounts for it in bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-sim-'))
    const policy = join(dir, 'omf.yaml')
    writeFileSync(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: true\nrules:\n  - level: RequestResponse\n')
    const ndjson = (await run(['policy', 'simulate', policy, FULL_LOG, '-o', 'ndjson'])).out
    expect(ndjson).not.toContain('"managedFields"')
    expect(readFileSync(FULL_LOG, 'utf8')).toContain('"managedFields"')
    const summary = JSON.parse((await run(['policy', 'simulate', policy, FULL_LOG, '-o', 'json'])).out) as SimulationSummary
    expect(summary.kept.bytes).toBe(Buffer.byteLength(ndjson))
    // at 1.22 the field does not exist: nothing is omitted
    const old = (await run(['policy', 'simulate', policy, FULL_LOG, '-o', 'ndjson', '--kubernetes-version', '1.22'])).out
    expect(old).toContain('"managedFields"')
  })

  it('prints a human summary with per-rule, level, resource and user tables and a projection', async () => {
    const { out } = await run(['policy', 'simulate', POLICIES[3]!, FULL_LOG])
    expect(out).toMatch(/Would write: 264 events \(14\.0% of the input\)/)
    expect(out).toMatch(/Projected: +[\d.]+ events\/s, .*GB\/day/)
    for (const heading of ['By rule', 'By level', 'By stage', 'resources by bytes', 'users by bytes']) expect(out).toContain(heading)
    expect(out).toMatch(/bob@example\.com/)
  })

  it('flags estimates when the input was recorded with less detail than the policy asks for', async () => {
    const seedMainLog = requireFixture(resolve(FIXTURES_DIR, 'runs/seed-main/audit.log'))
    const summary = JSON.parse((await run(['policy', 'simulate', POLICIES[5]!, seedMainLog, '-o', 'json'])).out) as SimulationSummary
    expect(summary.estimates.join('\n')).toMatch(/recorded at a lower level/)
    expect(summary.estimates.join('\n')).toMatch(/no RequestReceived events/)
    const legacy = JSON.parse((await run(['policy', 'simulate', POLICIES[0]!, requireFixture(resolve(FIXTURES_DIR, 'runs/legacy-format/audit.log')), '-o', 'json'])).out) as SimulationSummary
    expect(legacy.estimates.join('\n')).toMatch(/legacy text format/)
  })

  it('reports malformed lines, keeps the rest, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-sim-'))
    const lines = readFileSync(FULL_LOG, 'utf8').split('\n').filter(Boolean).slice(0, 10)
    lines.splice(4, 0, '{"this is": not json')
    const log = join(dir, 'broken.log')
    writeFileSync(log, lines.join('\n') + '\n')
    const r = await run(['policy', 'simulate', POLICIES[5]!, log, '-o', 'json'])
    expect((JSON.parse(r.out) as SimulationSummary).input.events).toBe(10)
    expect(r.code).toBe(1)
    expect(r.warnings[0]).toMatch(new RegExp(`^malformed: ${log}:5: invalid JSON`))
    // the same when the events are streamed
    const streamed = await run(['policy', 'simulate', POLICIES[5]!, log, '-o', 'ndjson'])
    expect(streamed.out.trim().split('\n')).toHaveLength(10)
    expect(streamed.code).toBe(1)
    expect(streamed.warnings[0]).toMatch(new RegExp(`^malformed: ${log}:5: invalid JSON`))
  })
})

describe('kubetrail policy diff', () => {
  it('counts gained, lost and re-levelled events consistently with simulate', async () => {
    const [minimal, comprehensive] = [POLICIES[0]!, POLICIES[1]!]
    const diff = JSON.parse((await run(['policy', 'diff', minimal, comprehensive, FULL_LOG, '--json'])).out) as PolicyDiffSummary
    const a = JSON.parse((await run(['policy', 'simulate', minimal, FULL_LOG, '-o', 'json'])).out) as SimulationSummary
    const b = JSON.parse((await run(['policy', 'simulate', comprehensive, FULL_LOG, '-o', 'json'])).out) as SimulationSummary
    expect(diff.old).toEqual(a.kept)
    expect(diff.new).toEqual(b.kept)
    expect(diff.new.events - diff.old.events).toBe(diff.gained.events - diff.lost.events)
    expect(diff.gained.events).toBeGreaterThan(0)
    expect(diff.transitions.reduce((n, t) => n + t.events, 0)).toBe(1891)
  })

  it('a policy compared with itself changes nothing', async () => {
    const { out } = await run(['policy', 'diff', POLICIES[1]!, POLICIES[1]!, FULL_LOG])
    expect(out).toContain('(no differences on this traffic)')
  })

  it('shows which rules gain events for a human', async () => {
    const { out } = await run(['policy', 'diff', POLICIES[0]!, POLICIES[1]!, FULL_LOG])
    expect(out).toMatch(/gained +\d+ .*#2 line 14 \(None\) +#7 line 54 \(Metadata\)/)
  })
})

describe('kubetrail policy simulate on every core', () => {
  it('gives exactly the single-threaded result, with file-wide line numbers for malformed lines', async () => {
    const { execFileSync } = await import('node:child_process')
    const cli = resolve(REPO_ROOT, 'dist/cli/main.js')
    // the built CLI is what runs worker threads; `npm test` builds it before the tests
    expect(existsSync(cli), 'dist/cli/main.js: run `npm run build`').toBe(true)
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-par-'))
    const lines = readFileSync(FULL_LOG, 'utf8').split('\n').filter(Boolean)
    lines.splice(300, 0, 'garbage line one')
    lines.splice(1500, 0, '{"kind":"Event"}')
    const log = join(dir, 'big.log')
    writeFileSync(log, lines.join('\n') + '\n')
    const policy = POLICIES[1]!
    const runCli = (minBytes: string, nodeFlags: string[] = []) => {
      try {
        return execFileSync(process.execPath, [...nodeFlags, cli, 'policy', 'simulate', policy, log, '-o', 'json'], { env: { ...process.env, KUBETRAIL_PARALLEL_MIN_BYTES: minBytes }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      } catch (error) {
        const e = error as { status: number; stdout: string; stderr: string }
        return JSON.stringify({ status: e.status, stdout: JSON.parse(e.stdout) as unknown, stderr: e.stderr })
      }
    }
    // with a V8 heap flag on the command line too: workers refuse such flags passed to them (the
    // replay then fell back to one thread, with a note on stderr)
    const parallel = JSON.parse(runCli('1', ['--max-old-space-size=256'])) as { status: number; stdout: unknown; stderr: string }
    const single = JSON.parse(runCli(String(2 ** 40))) as { status: number; stdout: unknown; stderr: string }
    expect(parallel.status).toBe(1)
    expect(parallel.stdout).toEqual(single.stdout)
    expect(parallel.stderr).toBe(single.stderr)
    expect(parallel.stderr).toContain(`${log}:301: not an audit event`)
    expect(parallel.stderr).toContain(`${log}:1501: missing field level`)
  })
})
