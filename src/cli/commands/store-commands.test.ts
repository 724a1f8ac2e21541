import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { FIXTURES_DIR, REPO_ROOT, requireFixture } from '../../../test/support/fixtures.js'
import { rotationOrder } from './import.js'
import { REDACTED_PREFIX } from '../../ingest/index.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }
async function run(args: string[]) {
  const r = await invoke(args, ctx)
  return { out: r.result ? await collectOutput(r.result) : '', code: r.result?.exitCode ?? r.exitCode, err: r.error ? renderError(r.error, false) : '' }
}
const fixture = (p: string) => requireFixture(resolve(FIXTURES_DIR, 'runs', p))
const newStore = () => join(mkdtempSync(join(tmpdir(), 'kubetrail-cmd-')), 'data')

describe('kubetrail import', () => {
  it('imports a log once, counts duplicates on re-import, and keeps the store private', async () => {
    const dir = newStore()
    const first = await run(['import', fixture('full/audit.log'), '--data-dir', dir])
    expect(first.code).toBe(0)
    expect(first.out).toMatch(/^imported 1 file\(s\): 1,891 events read, 1,891 stored, 0 duplicates skipped, 0 malformed/)
    const again = await run(['import', fixture('full/audit.log'), '--data-dir', dir])
    expect(again.out).toMatch(/1,891 events read, 0 stored, 1,891 duplicates skipped/)
    // nothing was stored, so nothing was redacted in the store by this run
    expect(first.out).toMatch(/, [1-9]\d* secret values redacted in the events stored/)
    expect(again.out).toMatch(/, 0 secret values redacted in the events stored/)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'chain.jsonl')).mode & 0o777).toBe(0o600)
  })

  it('redacts Secret values by default, with the collector\'s markers; --no-redact keeps them', async () => {
    const secretValue = 'UzNjcjN0LVBhc3N3MHJk' // data.password of the fixture's Secret
    expect(readFileSync(fixture('full/audit.log'), 'utf8')).toContain(secretValue)
    const dir = newStore()
    const r = await run(['import', fixture('full/audit.log'), '--data-dir', dir])
    const redactedCount = Number(/, (\d+) secret values redacted/.exec(r.out)?.[1])
    expect(redactedCount).toBeGreaterThan(0)
    const stored = (await run(['query', '--resource', 'secrets', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])).out
    expect(stored).not.toContain(secretValue)
    expect(stored.split(REDACTED_PREFIX).length - 1).toBeGreaterThan(0)
    expect(statSync(join(dir, 'redaction.key')).mode & 0o777).toBe(0o600)
    const plainDir = newStore()
    const plain = await run(['import', fixture('full/audit.log'), '--no-redact', '--data-dir', plainDir])
    expect(plain.out).toContain('secret values NOT redacted')
    expect((await run(['query', '--resource', 'secrets', '--limit', '0', '-o', 'ndjson', '--data-dir', plainDir])).out).toContain(secretValue)
  })

  it('imports a directory of rotated gzip backups oldest first, the live file last', async () => {
    expect(rotationOrder(['/x/audit.log', '/x/audit-2026-11-22T21-08-41.548.log.gz', '/x/audit-2026-11-22T21-07-56.507.log.gz'])).toEqual([
      '/x/audit-2026-11-22T21-07-56.507.log.gz',
      '/x/audit-2026-11-22T21-08-41.548.log.gz',
      '/x/audit.log',
    ])
    const dir = newStore()
    const r = await run(['import', fixture('rotation-compress'), '--data-dir', dir, '--cluster', 'rot'])
    expect(r.out).toMatch(/imported 4 file\(s\): 3,081 events read, 3,081 stored/)
  })

  it('imports webhook EventList bodies and the legacy format', async () => {
    const dir = newStore()
    const hooks = await run(['import', fixture('full/webhook/req-00001.body'), fixture('full/webhook/req-00002.body.gz'), '--data-dir', dir])
    expect(hooks.out).toMatch(/800 stored/)
    const legacy = await run(['import', fixture('legacy-format/audit.log'), '--data-dir', dir])
    expect(legacy.out).toMatch(/955 stored/)
  })

  it('reports malformed lines with file:line and stores the rest (exit 1)', async () => {
    const dir = newStore()
    const lines = readFileSync(fixture('full/audit.log'), 'utf8').split('\n').filter(Boolean).slice(0, 20)
    lines.splice(3, 0, 'this is not json', '{"kind":"Event","stage":"ResponseComplete"}')
    const log = join(mkdtempSync(join(tmpdir(), 'kubetrail-bad-')), 'bad.log')
    writeFileSync(log, lines.join('\n') + '\n')
    const r = await run(['import', log, '--data-dir', dir])
    expect(r.code).toBe(1)
    expect(r.out).toContain('20 stored')
    expect(r.out).toContain(`${log}:4: not an audit event`)
    expect(r.out).toContain(`${log}:5: missing field level`)
  })

  it('a missing file, a missing store and a bad flag are clear errors', async () => {
    expect((await run(['import', '/nonexistent/audit.log', '--data-dir', newStore()])).err).toMatch(/audit log not found: \/nonexistent\/audit\.log \[KT_FILE_NOT_FOUND\]/)
    expect((await run(['query', '--data-dir', newStore()])).err).toMatch(/no kubetrail store in .* \[KT_STORE_NOT_FOUND\]/)
    expect((await run(['query', '--code', 'teapot', '--data-dir', newStore()])).code).toBe(2)
  })
})

describe('kubetrail who / query / verify / prune', () => {
  const dir = newStore()
  const ready = run(['import', fixture('full/audit.log'), '--data-dir', dir])

  it('who delete deployment/novelapp names bob, with the failed attempt before the grant', async () => {
    await ready
    const r = await run(['who', 'delete', 'deployment/novelapp', '-n', 'production', '--data-dir', dir])
    expect(r.out).toMatch(/^delete deployments\.apps\/novelapp in namespace production: done by bob@example\.com/)
    const rows = r.out.trim().split('\n').slice(3)
    expect(rows).toHaveLength(2)
    expect(rows[0]).toMatch(/bob@example\.com .*127\.0\.0\.1 .*kubectl\/v1\.32\.4.*403 FAILED \(Forbidden\)/)
    expect(rows[1]).toMatch(/bob@example\.com .*200 succeeded/)
    const json = JSON.parse((await run(['who', 'delete', 'deploy/novelapp', '-n', 'production', '--data-dir', dir, '--json'])).out) as Array<{ stage: string }>
    expect(json.map((e) => e.stage)).toEqual(['ResponseComplete', 'ResponseComplete'])
  })

  it('who shows impersonation', async () => {
    await ready
    const r = await run(['who', 'list', 'secrets', '-n', 'production', '--data-dir', dir])
    expect(r.out).toMatch(/admin \(as alice@example\.com\)/)
  })

  it('query filters and prints every output format', async () => {
    await ready
    const ndjson = (await run(['query', '--user', 'mallory', '--code', '4xx', '--stages', 'all', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])).out.trim().split('\n')
    const all = readFileSync(fixture('full/audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { user: { username?: string }; responseStatus?: { code?: number } })
    expect(ndjson.length).toBe(all.filter((e) => e.user.username === 'mallory' && (e.responseStatus?.code ?? 0) >= 400 && (e.responseStatus?.code ?? 0) < 500).length)
    expect(ndjson.every((l) => JSON.parse(l).user.username === 'mallory')).toBe(true)
    const json = JSON.parse((await run(['query', '--resource', 'deploy', '--verb', 'delete', '-o', 'json', '--data-dir', dir])).out) as unknown[]
    expect(json.length).toBeGreaterThan(0)
    const csv = (await run(['query', '--resource', 'secrets', '--limit', '2', '-o', 'csv', '--data-dir', dir])).out.split('\n')
    expect(csv[0]).toBe('time,user,verb,resource,namespace,name,code,stage,source-ips,user-agent,cluster,audit-id')
    const table = (await run(['query', '--source-ip', '10.0.0.0/8', '--data-dir', dir])).out
    expect(table).toBe('No matching events.\n')
    const loopback = (await run(['query', '--source-ip', '127.0.0.0/8', '--limit', '3', '--data-dir', dir])).out.trim().split('\n')
    // header, three requests, and the footer saying more match
    expect(loopback).toHaveLength(5)
    expect(loopback[4]).toMatch(/^showing the newest 3 requests that matched; more match: --limit 0 shows all/)
  })

  it('query shows one row per request; the footer counts requests and events, and says when --limit cut it short', async () => {
    await ready
    const all = readFileSync(fixture('full/audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { auditID: string; stage: string })
    const requests = new Set(all.map((e) => e.auditID)).size
    const table = (await run(['query', '--data-dir', dir])).out.trim().split('\n')
    // header, 100 rows, footer
    expect(table).toHaveLength(102)
    expect(table[101]).toBe(
      `showing 100 of ${requests.toLocaleString('en-US')} requests (${all.length.toLocaleString('en-US')} events) matched: --limit 0 shows all, --limit N more; narrow with --since, --user, --verb, --resource; --stages all shows every stage event`,
    )
    const stages = (await run(['query', '--stages', 'all', '--limit', '5', '--data-dir', dir])).out.trim().split('\n')
    expect(stages.at(-1)).toMatch(/^showing 5 of 1,891 events \(\d[\d,]* requests\) matched|^showing 5 of [\d,]+ requests \(1,891 events\) matched/)
    // a request's 403 is carried by its last stage only: one row per request, with the code
    const denied = (await run(['query', '--user', 'bob@example.com', '--verb', 'delete', '--resource', 'deploy', '--data-dir', dir])).out
    expect(denied).toMatch(/^TIME +USER +VERB +RESOURCE +NAMESPACE +NAME +CODE +STAGE$/m)
    expect(denied).toMatch(/ 403 +ResponseComplete$/m)
    expect(denied).not.toMatch(/RequestReceived/)
    expect(denied.trim().split('\n').at(-1)).toBe('2 requests (4 events) matched')
    // the machine formats stay pure; stderr says when the list was cut short
    const r = await invoke(['query', '--limit', '3', '-o', 'json', '--data-dir', dir], ctx)
    expect(JSON.parse(await collectOutput(r.result!))).toHaveLength(3)
    expect(r.result!.warnings).toEqual(['showing the newest 3 requests that matched; more match: --limit 0 shows all'])
  })

  it('a time filter that excludes everything says what range the store holds', async () => {
    await ready
    const r = await run(['query', '--since', '24h', '--data-dir', dir])
    expect(r.out).toMatch(/^No matching events\.\nNothing matched between \S+ and now, but the store holds requests from 2026-11-22T\S+ to 2026-11-22T\S+: widen --since\/--until \(e\.g\. --since 2026-11-22\)\.\n$/)
  })

  it('sql names columns as written, not as DuckDB renames them', async () => {
    await ready
    const r = await run(['sql', 'SELECT verb, count(*), count(*) AS n, count(DISTINCT username) FROM events GROUP BY 1 ORDER BY 1 LIMIT 1', '--data-dir', dir])
    expect(r.out.split('\n')[0]).toMatch(/^verb +count\(\*\) +n +count\(DISTINCT username\)$/)
    const json = JSON.parse((await run(['sql', 'SELECT count(*), count(*) FROM events', '-o', 'json', '--data-dir', dir])).out) as Array<Record<string, number>>
    expect(Object.keys(json[0]!)).toEqual(['count(*)', 'count(*)_2'])
  })

  it('verify passes on an intact store', async () => {
    await ready
    const r = await run(['verify', '--data-dir', dir])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^OK: 1 chain links, 1,891 events intact\nMerkle tree: 1,891 events, 1 signed checkpoint\(s\) checked, 1 match\nchain head: [0-9a-f]{64} \(link 1\)\n$/)
  })

  it('import prints the chain head; verify --expect-head with it, or a file holding it, catches a tail cut off later', async () => {
    const store = newStore()
    const imported = await run(['import', fixture('full/audit.log'), '--batch-size', '200', '--data-dir', store])
    const [, hash, n] = /\nchain head: ([0-9a-f]{64}) \(link (\d+)\)\n$/.exec(imported.out)!
    const last = Number(n)
    expect(last).toBeGreaterThan(1)
    const saved = join(store, '..', 'head.txt')
    writeFileSync(saved, imported.out)
    expect(await run(['verify', '--expect-head', saved, '--data-dir', store])).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^OK: ${last} chain links, 1,891 events intact, the recorded head included\n`)) })
    // the intruder removes the last link and its segment
    const links = readFileSync(join(store, 'chain.jsonl'), 'utf8').trim().split('\n')
    writeFileSync(join(store, 'chain.jsonl'), links.slice(0, -1).join('\n') + '\n')
    rmSync(join(store, 'segments', (JSON.parse(links.at(-1)!) as { segment: string }).segment))
    // the store's own signed checkpoint sees it; an intruder who removes those too passes a plain verify
    const own = await run(['verify', '--data-dir', store])
    expect(own.code).toBe(1)
    expect(own.out).toContain(`was taken at chain link ${last}; the chain ends at link ${last - 1} (its tail was cut off)`)
    rmSync(join(store, 'checkpoints'), { recursive: true })
    expect((await run(['verify', '--data-dir', store])).code).toBe(0)
    const caught = await run(['verify', '--expect-head', saved, '--data-dir', store])
    expect(caught.code).toBe(1)
    expect(caught.out).toContain(`TAMPERED: first problem in batch ${last}\n  batch ${last}: is missing: the recorded head ${hash} is link ${last}, but the chain ends at link ${last - 1} (its tail was removed)\n`)
    expect((await run(['verify', '--expect-head', hash!, '--data-dir', store])).out).toMatch(/is not in the chain/)
    expect((await run(['verify', '--expect-head', 'nonsense', '--data-dir', store])).err).toMatch(/\[KT_USAGE\]/)
  })
})

describe('import reliability', () => {
  it('another process can query while an import is running', async () => {
    const cli = resolve(REPO_ROOT, 'dist/cli/main.js')
    expect(existsSync(cli), 'run `npm run build` first').toBe(true)
    const dir = newStore()
    await run(['import', fixture('full/audit.log'), '--data-dir', dir])
    const child = spawn(process.execPath, [cli, 'import', fixture('rotation'), '--data-dir', dir, '--batch-size', '50'], { stdio: 'ignore' })
    const exited = new Promise((r) => child.once('exit', r))
    const seen: number[] = []
    for (let i = 0; i < 5; i++) {
      const r = await run(['query', '--stages', 'all', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])
      expect(r.err).toBe('')
      seen.push(r.out.split('\n').filter(Boolean).length)
    }
    await exited
    // every answer was a consistent snapshot: the first import, plus whole committed batches
    for (const n of seen) expect(n).toBeGreaterThanOrEqual(1891)
    const after = (await run(['query', '--stages', 'all', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])).out.split('\n').filter(Boolean).length
    expect(after).toBe(1891 + 933 + 1037 + 1056 + 49)
  })

  it('SIGKILL halfway, then the same import again: every event exactly once, verify passes', async () => {
    const cli = resolve(REPO_ROOT, 'dist/cli/main.js')
    expect(existsSync(cli), 'run `npm run build` first').toBe(true)
    const dir = newStore()
    const logs = [fixture('rotation'), fixture('full/audit.log')]
    const total = 933 + 1037 + 1056 + 49 + 1891
    const child = spawn(process.execPath, [cli, 'import', ...logs, '--data-dir', dir, '--batch-size', '50'], { stdio: 'ignore' })
    const exited = new Promise((r) => child.once('exit', r))
    // wait until some batches are committed, then kill without warning
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const chain = existsSync(join(dir, 'chain.jsonl')) ? readFileSync(join(dir, 'chain.jsonl'), 'utf8').split('\n').filter(Boolean).length : 0
      if (chain >= 3) break
      await new Promise((r) => setTimeout(r, 20))
    }
    child.kill('SIGKILL')
    await exited
    const partial = await run(['query', '--stages', 'all', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])
    const before = partial.out.split('\n').filter(Boolean).length
    expect(before).toBeGreaterThanOrEqual(150)
    expect(before).toBeLessThan(total)
    const again = await run(['import', ...logs, '--data-dir', dir, '--batch-size', '50'])
    expect(again.code).toBe(0)
    const after = (await run(['query', '--stages', 'all', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])).out.split('\n').filter(Boolean)
    expect(after.length).toBe(total)
    expect(new Set(after).size).toBe(total)
    expect((await run(['verify', '--data-dir', dir])).code).toBe(0)
  })
})

describe('kubetrail top / history / sql / query --preset --where', () => {
  const dir = newStore()
  const ready = run(['import', fixture('full/audit.log'), '--data-dir', dir])

  it('top --by counts like sort | uniq -c', async () => {
    await ready
    const rows = JSON.parse((await run(['top', '--by', 'verb', '--json', '--data-dir', dir])).out) as Array<{ value: string; count: number }>
    const verbs = readFileSync(fixture('full/audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { verb: string }).verb)
    for (const r of rows) expect(r.count).toBe(verbs.filter((v) => v === r.value).length)
    expect(rows[0]!.count).toBeGreaterThanOrEqual(rows[1]!.count)
  })

  it('history shows every change to one object, with diffs where bodies were logged', async () => {
    await ready
    const r = await run(['history', 'deployment/webapp', '-n', 'production', '--data-dir', dir])
    const lines = r.out.trim().split('\n')
    expect(lines[0]).toMatch(/create by alice@example\.com from 127\.0\.0\.1: 201$/)
    expect(r.out).toContain('~ spec.template.spec.containers[0].image: "nginx:1.25" → "nginx:1.26"')
    expect(lines.at(-1)).toMatch(/delete by alice@example\.com .*: 200$/)
  })

  it('sql is read-only and sandboxed', async () => {
    await ready
    const r = JSON.parse((await run(['sql', "SELECT username, count(*) AS n FROM events WHERE verb = 'delete' AND code < 400 GROUP BY 1 ORDER BY 1", '--json', '--data-dir', dir])).out) as Array<{ username: string; n: number }>
    expect(r.map((x) => x.username)).toContain('bob@example.com')
    const escape = await run(['sql', "SELECT * FROM read_csv('/etc/passwd')", '--data-dir', dir])
    expect(escape.err).toMatch(/read_csv[^]*\[KT_SQL_NOT_READ_ONLY\]/)
    const write = await run(['sql', "COPY (SELECT 1) TO '/tmp/kubetrail-should-not-exist.csv'", '--data-dir', dir])
    expect(write.err).toMatch(/\[KT_SQL_NOT_READ_ONLY\]/)
    expect(existsSync('/tmp/kubetrail-should-not-exist.csv')).toBe(false)
  })

  it('--where takes CEL and reports a syntax error with its position', async () => {
    await ready
    const out = (await run(['query', '--where', 'objectRef.resource == "secrets" && user.username.startsWith("system:serviceaccount:")', '--stages', 'all', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])).out.trim().split('\n')
    expect(out.length).toBe(4)
    // by default one line per request: two requests, each logged at two stages
    const requests = (await run(['query', '--where', 'objectRef.resource == "secrets" && user.username.startsWith("system:serviceaccount:")', '-o', 'ndjson', '--data-dir', dir])).out.trim().split('\n')
    expect(requests.map((l) => JSON.parse(l).stage)).toEqual(['ResponseComplete', 'ResponseComplete'])
    expect(out.every((l) => JSON.parse(l).user.username === 'system:serviceaccount:ci:deployer')).toBe(true)
    const bad = await run(['query', '--where', 'verb == ', '--data-dir', dir])
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/--where is not a valid CEL expression:\nUnexpected token: EOF\n\n> {4}1 \| verb == \n +\^/)
  })

  it('--preset combines with filters; an unknown preset is a usage error', async () => {
    await ready
    const r = (await run(['query', '--preset', 'rbac-changes', '--user', 'admin', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])).out.trim().split('\n')
    expect(r.length).toBeGreaterThan(0)
    expect(r.every((l) => JSON.parse(l).user.username === 'admin' && JSON.parse(l).objectRef.apiGroup === 'rbac.authorization.k8s.io')).toBe(true)
    const unknown = await run(['query', '--preset', 'everything', '--data-dir', dir])
    expect(unknown.code).toBe(2)
    expect(unknown.err).toMatch(/unknown preset "everything"/)
  })
})
