/**
 * Import that lands fast and compacts later (issue 20): batches written at a light level are
 * queryable at once; `store compact` (or `import --compact`) re-encodes them smaller with the
 * same answers, and a crash on either side of a merge's commit loses and duplicates nothing.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { FIXTURES_DIR, requireFixture } from '../../../test/support/fixtures.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }
async function run(args: string[]) {
  const r = await invoke(args, ctx)
  return { out: r.result ? await collectOutput(r.result) : '', code: r.result?.exitCode ?? r.exitCode, err: r.error ? renderError(r.error, false) : '' }
}
const LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))
const newStore = () => join(mkdtempSync(join(tmpdir(), 'kubetrail-compact-cmd-')), 'data')

/** What a user sees of the store: answers that must not change with its layout. */
async function answers(dir: string): Promise<string[]> {
  return Promise.all([
    run(['sql', 'SELECT count(*) AS n, count(DISTINCT (audit_id, stage, request_received_at)) AS k, sum(hash(event)) AS h FROM events', '-o', 'json', '--data-dir', dir]),
    run(['who', 'delete', 'deployment/novelapp', '-n', 'production', '-o', 'json', '--data-dir', dir]),
    run(['query', '--preset', 'secret-access', '--limit', '0', '-o', 'ndjson', '--sort', 'oldest', '--data-dir', dir]),
    run(['top', '--by', 'user', '-o', 'json', '--data-dir', dir]),
  ]).then((rs) => rs.map((r) => (expect(r.err).toBe(''), r.out)))
}

const status = async (dir: string) => JSON.parse((await run(['store', 'status', '-o', 'json', '--data-dir', dir])).out) as { parts: number; bytes: number; events: number }

describe('kubetrail store compact', () => {
  it('merges the batches import wrote into fewer, smaller parts with the same answers, and the chain verifies', async () => {
    const dir = newStore()
    expect((await run(['import', LOG, '--batch-size', '200', '--data-dir', dir])).code).toBe(0)
    const before = await status(dir)
    // import flushes whole reads of the file: batches of about --batch-size
    expect(before.parts).toBeGreaterThan(1)
    const asked = await answers(dir)
    const r = await run(['store', 'compact', '-o', 'json', '--data-dir', dir])
    expect(r.err).toBe('')
    const report = JSON.parse(r.out) as { mergedAway: number; partsBefore: number; partsAfter: number; bytesBefore: number; bytesAfter: number }
    expect(report).toMatchObject({ mergedAway: before.parts - 1, partsBefore: before.parts, partsAfter: 1, bytesBefore: before.bytes })
    expect(report.bytesAfter).toBeLessThan(report.bytesBefore)
    expect(await answers(dir)).toEqual(asked)
    expect((await status(dir)).events).toBe(before.events)
    expect((await run(['verify', '--data-dir', dir])).code).toBe(0)
    // nothing left to merge: a second run changes nothing
    expect(JSON.parse((await run(['store', 'compact', '-o', 'json', '--data-dir', dir])).out)).toMatchObject({ mergedAway: 0, partsAfter: 1 })
  })

  it('import --compact lands compacted, as import then store compact does', async () => {
    const a = newStore()
    const b = newStore()
    // --no-redact: each data directory has its own redaction key, so its own markers
    const r = await run(['import', LOG, '--batch-size', '200', '--no-redact', '--compact', '-o', 'json', '--data-dir', a])
    expect(r.err).toBe('')
    const { compaction } = JSON.parse(r.out) as { compaction: { partsBefore: number; partsAfter: number; mergedAway: number } }
    expect(compaction.partsBefore).toBeGreaterThan(1)
    expect(compaction).toMatchObject({ partsAfter: 1, mergedAway: compaction.partsBefore - 1 })
    await run(['import', LOG, '--batch-size', '200', '--no-redact', '--data-dir', b])
    await run(['store', 'compact', '--data-dir', b])
    expect(await answers(a)).toEqual(await answers(b))
  })

  it('a crash before a merge is committed leaves the batches; one after it leaves the merge: nothing lost, nothing twice', async () => {
    const dir = newStore()
    await run(['import', LOG, '--batch-size', '200', '--data-dir', dir])
    const asked = await answers(dir)
    const segments = join(dir, 'segments')
    const batches = readdirSync(segments).filter((f) => f.endsWith('.parquet'))
    const saved = join(mkdtempSync(join(tmpdir(), 'kubetrail-compact-saved-')), batches[0]!)
    copyFileSync(join(segments, batches[0]!), saved)
    // before the commit: a merged file written, no link naming it (the writer died in between)
    copyFileSync(join(segments, batches[1]!), join(segments, '.tmp-0000000011.parquet'))
    copyFileSync(join(segments, batches[1]!), join(segments, '0000000011.parquet'))
    expect(await answers(dir)).toEqual(asked)
    await run(['store', 'compact', '--data-dir', dir])
    expect(readdirSync(segments).filter((f) => f.startsWith('.tmp-'))).toEqual([])
    // after the commit: a replaced batch's file still there (the writer died before removing it)
    copyFileSync(saved, join(segments, batches[0]!))
    expect(await answers(dir)).toEqual(asked)
    expect((await run(['verify', '--data-dir', dir])).code).toBe(0)
    expect(readFileSync(join(dir, 'chain.jsonl'), 'utf8').trim().split('\n').at(-1)).toMatch(/"kind":"compact"/)
  })
})
