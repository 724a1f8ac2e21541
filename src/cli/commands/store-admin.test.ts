import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { FIXTURES_DIR, requireFixture } from '../../../test/support/fixtures.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }
async function run(args: string[], env: Record<string, string> = {}) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
  Object.assign(process.env, env)
  try {
    const r = await invoke(args, ctx)
    return { out: r.result ? await collectOutput(r.result) : '', code: r.result?.exitCode ?? r.exitCode, err: r.error ? renderError(r.error, false) : '' }
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
}
const LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))

describe('kubetrail store (embedded)', () => {
  it('init creates the store once; status shows events per cluster and the compression', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-admin-')), 'data')
    expect((await run(['store', 'init', '--store', `duckdb:${dir}`])).out).toMatch(/created/)
    expect((await run(['store', 'init', '--store', `duckdb:${dir}`])).out).toMatch(/already at schema version 0/)
    await run(['import', LOG, '--store', `duckdb:${dir}`, '--cluster', 'prod'])
    await run(['import', LOG, '--data-dir', dir, '--cluster', 'dev'])
    const status = JSON.parse((await run(['store', 'status', '-o', 'json'], { KUBETRAIL_STORE: `duckdb:${dir}` })).out) as { events: number; clusters: unknown; bytes: number; rawBytes: number }
    expect(status.events).toBe(2 * 1891)
    expect(status.clusters).toEqual([{ cluster: 'dev', events: 1891 }, { cluster: 'prod', events: 1891 }])
    expect(status.rawBytes / status.bytes).toBeGreaterThan(3)
    expect((await run(['store', 'status', '--data-dir', dir])).out).toMatch(/compression\s+1\/\d+\.\d of the events' JSON/)
  })

  it('copy moves every event once, verifies both chains, and resumes without duplicates', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kubetrail-copy-'))
    const [a, b] = [join(root, 'a'), join(root, 'b')]
    await run(['import', LOG, '--data-dir', a])
    const first = await run(['store', 'copy', '--from', `duckdb:${a}`, '--to', `duckdb:${b}`])
    expect(first.code).toBe(0)
    expect(first.out).toMatch(/copied 1,891 events .*: 1,891 stored, 0 already there/)
    expect(first.out).toMatch(/destination chain verified: 1,891 events/)
    expect((await run(['store', 'copy', '--from', `duckdb:${a}`, '--to', `duckdb:${b}`])).out).toMatch(/0 stored, 1,891 already there/)
    const rows = async (dir: string) => (await run(['query', '--limit', '0', '-o', 'ndjson', '--sort', 'oldest', '--data-dir', dir], { KUBETRAIL_LOCAL: '1' })).out.split('\n').sort()
    expect(await rows(b)).toEqual(await rows(a))
    expect((await run(['store', 'copy', '--from', `duckdb:${a}`, '--to', `duckdb:${a}`])).err).toMatch(/the same store/)
  })

  it('copy refuses a source whose events do not match its chain (it would launder them into fresh batches)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kubetrail-copy-'))
    const [a, b] = [join(root, 'a'), join(root, 'b')]
    await run(['import', LOG, '--data-dir', a])
    // one byte of the committed segment changed behind kubetrail's back
    const segment = join(a, 'segments', readdirSync(join(a, 'segments'))[0]!)
    const bytes = readFileSync(segment)
    bytes[100] = bytes[100]! ^ 0xff
    writeFileSync(segment, bytes)
    const r = await run(['store', 'copy', '--from', `duckdb:${a}`, '--to', `duckdb:${b}`])
    expect(r.err).toMatch(/^kubetrail: copy of .* refused: batch 1 .*\[KT_STORE_TAMPERED\]/)
    expect(existsSync(join(b, 'chain.jsonl'))).toBe(false)
  })
})
