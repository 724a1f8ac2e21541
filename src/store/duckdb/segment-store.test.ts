import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { requireFixture, GEN_AUDIT } from '../../../test/support/fixtures.js'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { carriesPodSpec, isExternalIP, privilegedReasons, tokenReviewFailed, userKind, type AuditEvent } from '../../model/index.js'
import { DuckDBInstance } from '@duckdb/node-api'
import { rawEvents, runStoreSuite } from '../store.suite.js'
import { DuckDbSegmentStore } from './segment-store.js'
import type { ChainLink } from '../types.js'

/** Rewrites one segment with DuckDB, as an attacker with file access could. */
async function rewriteSegment(dir: string, seq: number, sqlOverSegment: (src: string) => string): Promise<void> {
  const link = readFileSync(join(dir, 'chain.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ChainLink).find((l) => l.seq === seq)!
  const path = join(dir, 'segments', link.segment!)
  const tmp = `${path}.evil`
  const db = await DuckDBInstance.create(':memory:')
  const c = await db.connect()
  await c.run(`COPY (${sqlOverSegment(`read_parquet('${path}')`)}) TO '${tmp}' (FORMAT parquet)`)
  c.closeSync()
  db.closeSync()
  rmSync(path)
  const { renameSync } = await import('node:fs')
  renameSync(tmp, path)
}

runStoreSuite('duckdb segments', {
  open: (dir, write) => DuckDbSegmentStore.open(dir, { write }),
  async tamper(dir, seq, how) {
    switch (how) {
      case 'alter':
        return rewriteSegment(dir, seq, (s) => `SELECT * REPLACE (CASE WHEN row_in_batch = 5 THEN 'mallory' ELSE username END AS username) FROM ${s} ORDER BY row_in_batch`)
      case 'delete-event':
        return rewriteSegment(dir, seq, (s) => `SELECT * FROM ${s} WHERE row_in_batch <> 7 ORDER BY row_in_batch`)
      case 'reorder':
        return rewriteSegment(dir, seq, (s) => `SELECT * REPLACE (CASE row_in_batch WHEN 1 THEN 2 WHEN 2 THEN 1 ELSE row_in_batch END AS row_in_batch) FROM ${s}`)
      case 'insert':
        return rewriteSegment(dir, seq, (s) => `SELECT * FROM ${s} UNION ALL (SELECT * REPLACE (row_in_batch + 1000 AS row_in_batch) FROM ${s} LIMIT 1)`)
      case 'remove-batch': {
        const files = readdirSync(join(dir, 'segments')).sort()
        rmSync(join(dir, 'segments', files[seq - 1]!))
        return
      }
      case 'reattribute':
        return rewriteSegment(dir, seq, (s) => `SELECT * REPLACE (
            CASE WHEN row_in_batch <= 8 THEN 'mallory@example.com' ELSE username END AS username,
            CASE WHEN row_in_batch <= 8 THEN replace(event, '"username":' || to_json(username), '"username":"mallory@example.com"') ELSE event END AS event)
          FROM ${s} ORDER BY row_in_batch`)
      case 'truncate': {
        const links = chainOf(dir)
        expect(links.at(-1)!.seq).toBe(seq)
        writeFileSync(join(dir, 'chain.jsonl'), links.slice(0, -1).map((l) => JSON.stringify(l) + '\n').join(''))
        rmSync(join(dir, 'segments', links.at(-1)!.segment!))
      }
    }
  },
  async editLink(dir, seq, edit) {
    const links = chainOf(dir)
    edit(links.find((l) => l.seq === seq)!)
    writeFileSync(join(dir, 'chain.jsonl'), links.map((l) => JSON.stringify(l) + '\n').join(''))
  },
})

function chainOf(dir: string): ChainLink[] {
  return readFileSync(join(dir, 'chain.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ChainLink)
}

/** The chain still verifies; then the store is closed and its directory removed. */
async function expectVerifiedThenRemove(store: DuckDbSegmentStore, dir: string): Promise<void> {
  expect((await store.verify()).ok).toBe(true)
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}

describe('compaction under a memory limit', () => {
  it('merges many collector-sized segments without running out of memory, and answers the same', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kubetrail-compact-')), 'gen.ndjson')
    execFileSync(process.execPath, [requireFixture(GEN_AUDIT), '--events', '60000', '--seed', '3', '--out', file], { stdio: 'ignore' })
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-compact-'))
    // the collector's settings; 60k events (~100 MB of rows) in one sort fail under this limit
    const store = await DuckDbSegmentStore.open(dir, { write: true, threads: 1, memoryLimit: '128MB' })
    for (let i = 0; i < lines.length; i += 5000) await store.append(lines.slice(i, i + 5000).map((json, j) => ({ json, file, line: i + j + 1 })), 'default')
    const before = await store.top('resource', {}, 50)
    const merged = await store.compact()
    const stats = await store.stats()
    expect(merged).toBeGreaterThan(0)
    expect(stats.batches).toBe(12 - merged)
    expect(stats.batches).toBeGreaterThan(1) // bounded: not one sort of everything
    expect(stats.events).toBe(60000)
    expect(await store.top('resource', {}, 50)).toEqual(before)
    await expectVerifiedThenRemove(store, dir)
    // ~28 s on an idle machine (generating and appending 60k events); several engineers' suites
    // share two cores: what this test holds is memory, not speed
  }, 180_000)
})

describe('compaction that yields', () => {
  it('stops after a merge when asked to, and the next compaction finishes the work', async () => {
    const events = rawEvents()
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-yield-'))
    const store = await DuckDbSegmentStore.open(dir, { write: true })
    const per = Math.ceil(events.length / 8)
    for (let i = 0; i < events.length; i += per) await store.append(events.slice(i, i + per), 'default')
    const before = (await store.stats()).batches
    expect(before).toBe(8)
    // runs of at most two batches: four merges to do
    const target = per * 2
    let asked = 0
    const first = await store.compact({ targetEvents: target, yieldNow: () => (asked++, true) })
    expect(first).toBe(1)
    expect(asked).toBe(1)
    expect((await store.stats()).batches).toBe(7)
    expect(await store.compact({ targetEvents: target, yieldNow: () => false })).toBe(3)
    expect((await store.stats()).batches).toBe(4)
    expect(await store.count({})).toBe(events.length)
    await expectVerifiedThenRemove(store, dir)
  })
})

describe('batch compression level (a collector seals cheaply; compaction writes at the store level)', () => {
  it('writes larger batches at a lower level, and compaction makes them byte-identical to a default store\'s', async () => {
    const events = rawEvents()
    const root = mkdtempSync(join(tmpdir(), 'kubetrail-level-'))
    const segmentBytes = (dir: string) => readdirSync(join(dir, 'segments')).map((f) => readFileSync(join(dir, 'segments', f)).length)
    const stores = await Promise.all([undefined, 1].map((level) => DuckDbSegmentStore.open(join(root, `level-${level ?? 'default'}`), { write: true, batchCompressionLevel: level })))
    for (const store of stores) for (let i = 0; i < 4; i++) await store.append(events.filter((_, j) => j % 4 === i), 'default')
    const [byDefault, cheap] = [segmentBytes(join(root, 'level-default')), segmentBytes(join(root, 'level-1'))]
    expect(cheap.reduce((a, b) => a + b)).toBeGreaterThan(byDefault.reduce((a, b) => a + b))
    for (const store of stores) expect(await store.compact()).toBe(3)
    for (const store of stores) expect((await store.verify()).ok).toBe(true)
    const compacted = (dir: string) => readFileSync(join(dir, 'chain.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ChainLink).at(-1)!.contentHash
    expect(compacted(join(root, 'level-1'))).toBe(compacted(join(root, 'level-default')))
    for (const store of stores) await store.close()
    rmSync(root, { recursive: true, force: true })
  })
})

describe('appendClusterLines (the collector\'s WAL files, read by DuckDB)', () => {
  it('commits each cluster\'s events, skips a torn last line, names malformed lines, and stores nothing twice', async () => {
    const events = rawEvents().slice(0, 300)
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-lines-'))
    const file = join(dir, 'x.wal')
    const lines = events.map((e, i) => `${i % 3 === 0 ? 'prod' : 'staging'}\t${e.json}`)
    lines.splice(10, 0, 'prod\t{"kind":"Event", broken')
    writeFileSync(file, lines.join('\n') + '\n' + 'prod\t{"torn":')
    const store = await DuckDbSegmentStore.open(join(dir, 'data'), { write: true })
    const first = await store.appendClusterLines(file)
    const byCluster = new Map(first.map((r) => [r.cluster, r.result]))
    expect(byCluster.get('prod')!.stored).toBe(100)
    expect(byCluster.get('staging')!.stored).toBe(200)
    expect(byCluster.get('prod')!.malformed).toEqual([{ file, line: 11, reason: expect.stringMatching(/invalid JSON/) }])
    expect(await store.count({ clusters: ['prod'] })).toBe(100)
    // the same file again (a crash before the WAL file was removed): nothing new
    const again = await store.appendClusterLines(file)
    expect(again.map((r) => r.result.stored)).toEqual([0, 0])
    // what it stored is what append would have stored
    const viaAppend = await DuckDbSegmentStore.open(join(dir, 'data2'), { write: true })
    await viaAppend.append(events.filter((_, i) => i % 3 === 0), 'prod')
    const a = (await collectRaw(store.query({ clusters: ['prod'], order: 'oldest' }))).sort()
    const b = (await collectRaw(viaAppend.query({ clusters: ['prod'], order: 'oldest' }))).sort()
    expect(a).toEqual(b)
    // a bare CR (which DuckDB's line reader would split on) is refused, so the caller reads the file itself
    const cr = join(dir, 'cr.wal')
    writeFileSync(cr, `prod\t${events[0]!.json.replace('"level":', '\r"level":')}\n`)
    await expect(store.appendClusterLines(cr)).rejects.toMatchObject({ code: 'KT_STORE_WRITE_FAILED' })
    await store.close()
    await viaAppend.close()
  })
})

async function collectRaw(it: AsyncIterable<{ raw: string }>): Promise<string[]> {
  const out: string[] = []
  for await (const e of it) out.push(e.raw)
  return out
}

describe('store format', () => {
  it('a store whose segments lack a column says so on open, for readers and writers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-format-'))
    const store = await DuckDbSegmentStore.open(dir, { write: true })
    await store.append(rawEvents().slice(0, 50), 'default')
    await store.close()
    await rewriteSegment(dir, 1, (s) => `SELECT * EXCLUDE (privileged_pod, auth_failed) FROM ${s}`)
    // twice as a writer: a failed open releases the writer lock (else the second says KT_STORE_BUSY)
    for (const write of [false, true, true]) {
      await expect(DuckDbSegmentStore.open(dir, { write })).rejects.toMatchObject({ code: 'KT_STORE_FORMAT', message: expect.stringContaining('privileged_pod, auth_failed') })
    }
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('enrichment columns', () => {
  it('user_kind and source_external equal userKind and isExternalIP, on real events and generated addresses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-enrich-'))
    const store = await DuckDbSegmentStore.open(dir, { write: true })
    const real = rawEvents()
    const octet = fc.integer({ min: 0, max: 255 })
    const ips = fc.sample(
      fc.oneof(
        fc.tuple(fc.constantFrom(0, 10, 100, 127, 169, 172, 192, 8, 34), octet, octet, octet).map((o) => o.join('.')),
        fc.ipV4(),
        fc.ipV6(),
        fc.constantFrom('::1', '::', 'fd00::1', 'fe80::1', 'febf::1', 'fec0::1', '2001:db8::1', '::ffff:10.0.0.1', '::ffff:8.8.8.8', 'not-an-ip', '999.1.1.1'),
        // other spellings BlockList reads as the same address: zero groups, IPv4-mapped in hex, zone indexes, case
        fc.constantFrom('0:0:0:0:0:0:0:1', '::0001', '::0.0.0.1', '::0:0:0:0.0.0.0', '0::', 'fc::1', 'fc00::1%1', 'fe80::1%eth0', '::1%lo', '1.2.3.4%x', '::1%', ':', ':::', '1:2', '::ffff:0:10.0.0.1', '::ffff'),
        fc
          .tuple(
            fc.constantFrom('::ffff:', '0:0:0:0:0:ffff:', '0::ffff:', '::0:ffff:', '::', '::0:', '0:0:0:0:0:0:', '1::ffff:'),
            fc.oneof(fc.tuple(fc.constantFrom(0, 10, 100, 127, 169, 172, 192, 8), octet, octet, octet).map((o) => o.join('.')), fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([a, b]) => `${a.toString(16)}:${b.toString(16)}`)),
            fc.constantFrom('', '', '%eth0', '%'),
            fc.boolean(),
          )
          .map(([prefix, tail, zone, upper]) => (upper ? (prefix + tail).toUpperCase() : prefix + tail) + zone),
      ),
      { numRuns: 1200, seed: 7 },
    )
    const base = JSON.parse(real[0]!.json) as Record<string, unknown>
    const generated = ips.map((ip, i) => ({ json: JSON.stringify({ ...base, auditID: `gen-${i}`, sourceIPs: [ip] }), file: 'gen', line: i + 1 }))
    await store.append([...real, ...generated], 'default')
    const { rows } = await store.sql('SELECT audit_id, stage, username, user_kind, source_ips, source_external FROM events')
    expect(rows.length).toBe(real.length + generated.length)
    for (const [id, stage, username, kind, sourceIps, external] of rows as Array<[string, string, string | null, string, string[], boolean]>) {
      expect(kind, `${id} ${stage}`).toBe(userKind(username ?? undefined))
      expect(external, `${id} ${sourceIps.join(',')}`).toBe(sourceIps.some(isExternalIP))
    }
    await store.close()
  })

  it('property: privileged_pod and auth_failed equal the presets\' JavaScript checks on generated bodies', async () => {
    const flag = fc.constantFrom(true, false, 'true', 1, null, undefined)
    const container = fc.oneof(
      fc.record({ name: fc.constantFrom('a', 'b'), securityContext: fc.oneof(fc.record({ privileged: flag }), fc.constant('x'), fc.constant(undefined)) }),
      fc.constant(3),
    )
    const containers = fc.oneof(fc.array(container, { maxLength: 3 }), fc.constant({ a: { securityContext: { privileged: true } } }), fc.constant(undefined))
    const volume = fc.oneof(fc.record({ name: fc.constant('v'), hostPath: fc.oneof(fc.record({ path: fc.constant('/') }), fc.constant('/'), fc.constant(undefined)) }), fc.constant(7))
    const podSpec = fc.record({
      hostNetwork: flag, hostPID: flag, hostIPC: flag,
      containers, initContainers: containers, ephemeralContainers: containers,
      volumes: fc.oneof(fc.array(volume, { maxLength: 2 }), fc.constant(undefined)),
    })
    const body = fc.oneof(
      podSpec.map((spec) => ({ kind: 'Pod', spec })),
      podSpec.map((spec) => ({ kind: 'Deployment', spec: { template: { spec } } })),
      podSpec.map((spec) => ({ kind: 'CronJob', spec: { jobTemplate: { spec: { template: { spec } } } } })),
      podSpec.map((spec) => ({ kind: 'Deployment', spec: { template: 'x', jobTemplate: { spec: { template: { spec } } } } })),
      fc.constant({ kind: 'Pod', spec: 'x' }),
      fc.constant(undefined),
    )
    const review = fc.oneof(
      fc.record({ status: fc.oneof(fc.record({ authenticated: flag, error: fc.constantFrom('bad token', undefined) }), fc.constant('x')) }),
      fc.constant(undefined),
    )
    const event = fc.record({
      resource: fc.constantFrom('pods', 'deployments', 'cronjobs', 'configmaps', 'tokenreviews'),
      subresource: fc.constantFrom(undefined, 'status'),
      apiGroup: fc.constantFrom(undefined, 'apps', 'batch', 'authentication.k8s.io'),
      verb: fc.constantFrom('create', 'update', 'get'),
      level: fc.constantFrom('Metadata', 'Request', 'RequestResponse'),
      code: fc.constantFrom(200, 201, 401, 403),
      requestObject: body,
      responseObject: review,
    })
    const base = JSON.parse(rawEvents()[0]!.json) as Record<string, unknown>
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 30 }), async (generated) => {
        const dir = mkdtempSync(join(tmpdir(), 'kubetrail-enrich-'))
        const store = await DuckDbSegmentStore.open(dir, { write: true })
        const events = generated.map((g, i) => ({
          ...base, auditID: `g-${i}`, verb: g.verb, level: g.level,
          objectRef: { resource: g.resource, ...(g.subresource ? { subresource: g.subresource } : {}), ...(g.apiGroup ? { apiGroup: g.apiGroup } : {}), apiVersion: 'v1' },
          responseStatus: { metadata: {}, code: g.code },
          ...(g.level !== 'Metadata' && g.requestObject !== undefined ? { requestObject: g.requestObject } : {}),
          ...(g.level === 'RequestResponse' && g.responseObject !== undefined ? { responseObject: g.responseObject } : {}),
        }))
        await store.append(events.map((e, i) => ({ json: JSON.stringify(e), file: 'gen', line: i + 1 })), 'default')
        const { rows } = await store.sql('SELECT audit_id, privileged_pod, auth_failed FROM events ORDER BY audit_id')
        const byId = new Map(events.map((e) => [e.auditID, e]))
        for (const [id, privileged, failed] of rows as Array<[string, boolean, boolean]>) {
          const e = byId.get(id)! as unknown as AuditEvent
          expect(privileged, JSON.stringify(e)).toBe(carriesPodSpec(e.objectRef) && privilegedReasons(e.requestObject).length > 0)
          const review = e.objectRef!.resource === 'tokenreviews' && e.objectRef!.apiGroup === 'authentication.k8s.io' && tokenReviewFailed(e)
          expect(failed, JSON.stringify(e)).toBe(e.responseStatus!.code === 401 || review)
        }
        await store.close()
        rmSync(dir, { recursive: true, force: true })
      }),
      { numRuns: 40 },
    )
  })
})
