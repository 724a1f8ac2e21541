/**
 * Issue 19's acceptance through the commands a user runs: signed checkpoints written by import
 * to a directory outside the store, `verify --checkpoint` against a store rebuilt by kubetrail
 * itself and against one forged by someone who recomputed every hash it keeps, forged
 * checkpoints, proofs checked offline, prune.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { FIXTURES_DIR, REPO_ROOT, requireFixture } from '../../../test/support/fixtures.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }
async function run(args: string[]) {
  const r = await invoke(args, ctx)
  return { out: r.result ? await collectOutput(r.result) : '', code: r.error ? r.exitCode : (r.result?.exitCode ?? 0), err: r.error ? renderError(r.error, false) : '' }
}
const LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))

function setup() {
  const work = mkdtempSync(join(tmpdir(), 'kubetrail-integrity-cmd-'))
  return { work, data: join(work, 'data'), key: join(work, 'keys', 'checkpoint.key'), pub: join(work, 'keys', 'checkpoint.key.pub'), anchor: join(work, 'elsewhere') }
}

async function importWith(s: ReturnType<typeof setup>, log: string, ...more: string[]) {
  const r = await run(['import', log, '--data-dir', s.data, '--checkpoint-key', s.key, '--checkpoint-dir', s.anchor, ...more])
  expect(r.err).toBe('')
  expect(r.code).toBe(0)
  return r
}

describe('signed checkpoints and verify --checkpoint', () => {
  it('import signs a checkpoint with a new 0600 key, keeps it in the store and in the anchor directory; verify checks it', async () => {
    const s = setup()
    const r = await importWith(s, LOG)
    expect(r.out).toMatch(/signed checkpoint of 1,891 events \(key .*checkpoint\.key, new; sent to 1 of 1 anchors\):\ncheckpoint [A-Za-z0-9+/=]+\n/)
    expect(statSync(s.key).mode & 0o777).toBe(0o600)
    const anchored = readdirSync(s.anchor)
    expect(anchored).toHaveLength(1)
    const text = readFileSync(join(s.anchor, anchored[0]!), 'utf8')
    expect(text.split('\n').slice(1, 2)).toEqual(['1891'])
    expect(text).toMatch(/^kubetrail\.io\/chain\/[0-9a-f]{32}\n1891\n[A-Za-z0-9+/]{43}=\ntime \S+\ncluster default\nchain 1 [0-9a-f]{64}\nprev genesis\n\n\u2014 kubetrail-\S+ [A-Za-z0-9+/=]+\n$/)
    expect((await run(['checkpoint', 'export', '--data-dir', s.data])).out).toBe(text)
    const ok = await run(['verify', '--data-dir', s.data, '--checkpoint', s.anchor, '--public-key', s.pub, '-o', 'json'])
    expect(ok.code).toBe(0)
    const report = JSON.parse(ok.out) as { ok: boolean; tree: { size: number; checkpoints: Array<{ ok: boolean }> } }
    expect(report.tree.size).toBe(1891)
    expect(report.tree.checkpoints.map((c) => c.ok)).toEqual([true, true])
    // a second import that stores nothing signs nothing new
    const again = await importWith(s, LOG)
    expect(again.out).not.toContain('signed checkpoint')
    expect(readdirSync(s.anchor)).toHaveLength(1)
  })

  it('(1) a store wiped and rebuilt by kubetrail itself from the log minus one event fails verify --checkpoint, naming the checkpoint', async () => {
    const s = setup()
    await importWith(s, LOG)
    const anchored = join(s.anchor, readdirSync(s.anchor)[0]!)
    rmSync(s.data, { recursive: true })
    const lines = readFileSync(LOG, 'utf8').split('\n').filter(Boolean)
    const edited = join(s.work, 'edited.log')
    writeFileSync(edited, lines.filter((_, i) => i !== 700).join('\n') + '\n')
    await run(['import', edited, '--data-dir', s.data, '--checkpoint-key', s.key])
    // the rebuilt store is self-consistent: its own chain and checkpoint pass
    expect((await run(['verify', '--data-dir', s.data, '--checkpoint-key', s.key])).code).toBe(0)
    const bad = await run(['verify', '--data-dir', s.data, '--checkpoint', s.anchor, '--public-key', s.pub])
    expect(bad.code).toBe(1)
    expect(bad.out).toContain('TAMPERED')
    expect(bad.out).toContain(`checkpoint ${anchored}: was signed for another store`)
  })

  it('(2) one field rewritten in the store files with every hash the store keeps recomputed: verify alone passes, verify --checkpoint fails', async () => {
    const s = setup()
    await importWith(s, LOG, '--batch-size', '500')
    execFileSync(process.execPath, [join(REPO_ROOT, 'test/support/forge-duckdb-store.mjs'), s.data, '2', 'mallory@example.com'])
    expect((await run(['query', '--user', 'mallory@example.com', '--data-dir', s.data, '-o', 'json'])).out).toContain('mallory@example.com')
    // the attack works against what the store keeps alone
    const local = await run(['verify', '--data-dir', s.data, '--checkpoint-key', join(s.work, 'no-such-key')])
    expect(local.code, local.out).toBe(0)
    const bad = await run(['verify', '--data-dir', s.data, '--checkpoint', s.anchor, '--public-key', s.pub, '-o', 'json'])
    expect(bad.code).toBe(1)
    const report = JSON.parse(bad.out) as { ok: boolean; tree: { problems: Array<{ checkpoint?: string; seq?: number; problem: string }> } }
    expect(report.ok).toBe(false)
    const problems = report.tree.problems.map((p) => `${p.checkpoint ?? ''} ${p.seq ?? ''} ${p.problem}`).join('\n')
    expect(problems).toMatch(/signs root \S+ for the first 1891 events; the store's tree gives/)
    expect(problems).toMatch(/the change lies in events 0\.\.1890/)
  })

  it('(5) a checkpoint signed by another key, or altered after signing, is rejected', async () => {
    const s = setup()
    await importWith(s, LOG)
    const anchored = join(s.anchor, readdirSync(s.anchor)[0]!)
    const text = readFileSync(anchored, 'utf8')
    // the attacker signs their own checkpoint of the store as it is, with a key of their own
    const other = join(s.work, 'attacker.key')
    expect((await run(['checkpoint', 'keygen', '--file', other, '--name', 'kubetrail-evil'])).code).toBe(0)
    const forgedDir = join(s.work, 'forged')
    await run(['import', LOG, '--data-dir', join(s.work, 'scratch'), '--checkpoint-key', other, '--checkpoint-dir', forgedDir])
    const forged = await run(['verify', '--data-dir', s.data, '--checkpoint', forgedDir, '--public-key', s.pub])
    expect(forged.code).toBe(1)
    expect(forged.out).toMatch(/is not signed by the given public key \(signed by kubetrail-evil/)
    // the real checkpoint with its size changed: the signature no longer holds
    const altered = join(s.work, 'altered.checkpoint')
    writeFileSync(altered, text.replace('\n1891\n', '\n1890\n'))
    const bad = await run(['verify', '--data-dir', s.data, '--checkpoint', altered, '--public-key', s.pub])
    expect(bad.code).toBe(1)
    expect(bad.out).toContain('is not valid: the checkpoint was altered or forged')
    // --checkpoint without a key is refused: a checkpoint is only worth its key
    expect((await run(['verify', '--data-dir', s.data, '--checkpoint', anchored])).code).toBe(2)
  })

  it('(4) an inclusion proof verifies offline with the public key alone; one byte of the event changed, it fails', async () => {
    const s = setup()
    await importWith(s, LOG)
    const events = readFileSync(LOG, 'utf8').split('\n').filter(Boolean)
    const auditId = (JSON.parse(events[1234]!) as { auditID: string }).auditID
    const proved = await run(['prove', auditId, '--data-dir', s.data])
    expect(proved.err).toBe('')
    const proof = JSON.parse(proved.out) as { kind: string; events: Array<{ event: string; index: number; proof: string[] }> }
    expect(proof.kind).toBe('kubetrail.io/inclusion-proof/v1')
    expect(proof.events.length).toBeGreaterThanOrEqual(1)
    // O(log n): 1891 leaves need at most 11 hashes
    for (const e of proof.events) expect(e.proof.length).toBeLessThanOrEqual(11)
    const file = join(s.work, 'evidence.json')
    writeFileSync(file, proved.out)
    // offline: no store, only the proof and the key
    rmSync(s.data, { recursive: true })
    const ok = await run(['verify-proof', file, '--public-key', readFileSync(s.pub, 'utf8').trim()])
    expect(ok.code, ok.out).toBe(0)
    expect(ok.out).toMatch(new RegExp(`^OK: ${proof.events.length} event\\(s\\) of ${auditId} are in the tree of 1,891 events signed by`))
    const changed = structuredClone(proof)
    const first = changed.events[0]!
    const at = first.event.indexOf('"verb":"') + 8
    first.event = first.event.slice(0, at) + String.fromCharCode(first.event.charCodeAt(at) ^ 1) + first.event.slice(at + 1)
    writeFileSync(file, JSON.stringify(changed))
    const bad = await run(['verify-proof', file, '--public-key', s.pub, '-o', 'json'])
    expect(bad.code).toBe(1)
    const report = JSON.parse(bad.out) as { ok: boolean; events: Array<{ ok: boolean }>; problems: string[] }
    expect(report.events[0]!.ok).toBe(false)
    expect(report.problems[0]).toMatch(/is not in the tree the checkpoint signed/)
    // the auditor's own copy of the events, given apart from the proof
    const own = join(s.work, 'own.ndjson')
    writeFileSync(own, proof.events.map((e) => e.event).join('\n') + '\n')
    expect((await run(['verify-proof', file, '--public-key', s.pub, '--event', own])).code).toBe(0)
  })

  it('(6) prune keeps checkpoints from before it valid for what remains, and proofs of the retained events', async () => {
    const s = setup()
    const lines = readFileSync(LOG, 'utf8').split('\n').filter(Boolean)
    // an old part (2001) and a recent one, as two imports: two batches, two checkpoints
    const old = join(s.work, 'old.log')
    writeFileSync(old, lines.slice(0, 800).map((l) => l.replace(/"(requestReceivedTimestamp|stageTimestamp)":"\d{4}-\d\d-\d\d/g, '"$1":"2001-01-01')).join('\n') + '\n')
    await importWith(s, old)
    const recent = join(s.work, 'recent.log')
    writeFileSync(recent, lines.slice(800).join('\n') + '\n')
    await importWith(s, recent)
    expect(readdirSync(s.anchor)).toHaveLength(2)
    const pruned = await run(['prune', '--older-than', '3650d', '--data-dir', s.data, '-o', 'json'])
    expect(JSON.parse(pruned.out)).toMatchObject({ prunedBatches: 1, prunedEvents: 800 })
    const after = await run(['verify', '--data-dir', s.data, '--checkpoint', s.anchor, '--public-key', s.pub, '-o', 'json'])
    expect(after.code, after.out).toBe(0)
    expect((JSON.parse(after.out) as { tree: { size: number } }).tree.size).toBe(1891)
    const auditId = (JSON.parse(lines[1500]!) as { auditID: string }).auditID
    const proved = await run(['prove', auditId, '--data-dir', s.data])
    const file = join(s.work, 'evidence.json')
    writeFileSync(file, proved.out)
    expect((await run(['verify-proof', file, '--public-key', s.pub])).code).toBe(0)
    // and the tree still proves it grew from the checkpoint taken before the prune
    const older = join(s.anchor, readdirSync(s.anchor).sort()[0]!)
    const grew = await run(['prove', '--since', older, '--data-dir', s.data])
    writeFileSync(file, grew.out)
    const checked = await run(['verify-proof', file, '--public-key', s.pub])
    expect(checked.out).toMatch(/^OK: the tree of 1,891 events \(\S+\) extends the tree of 800/)
  })
})
