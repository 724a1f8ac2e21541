/**
 * The store conformance suite: one table of behaviours every `AuditStore` implementation must
 * show (hono's shared router suite, applied to stores). An implementation's test file calls
 * `runStoreSuite` with a factory that opens a fresh store in a directory.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import type { AccessRow, AuditStore, ChainLink, EventQuery, RawEvent } from './types.js'
import { AccessSummary } from './access.js'
import { carriesPodSpec, isExternalIP, privilegedReasons, tokenReviewFailed, type AuditEvent } from '../model/index.js'

export interface StoreFactory {
  open(dir: string, write: boolean): Promise<AuditStore>
  /**
   * Alters the stored data of batch `seq` behind the store's back (for tamper tests):
   * `reattribute` gives its first 8 events (in stored order) to mallory@example.com, in every
   * column and the event's JSON, keeping the row count; `truncate` removes the last link and its
   * data (`seq` is the last link).
   */
  tamper?: (dir: string, seq: number, how: 'alter' | 'delete-event' | 'reorder' | 'insert' | 'remove-batch' | 'reattribute' | 'truncate') => Promise<void>
  /** Edits chain link `seq` as it is kept, without recomputing any hash. */
  editLink?: (dir: string, seq: number, edit: (link: ChainLink) => void) => Promise<void>
}

/**
 * A store that only reads what it is given (log files read where they lie): it runs the suite's
 * questions, not its writes. `load` answers over these events, each inner list one file, in order.
 */
export interface ReadOnlyStoreFactory {
  readOnly: true
  load(files: ReadonlyArray<readonly RawEvent[]>, dir: string): Promise<AuditStore>
}

const FULL = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))

export function rawEvents(file = FULL): RawEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((json, i) => ({ json, file, line: i + 1 }))
    .filter((e) => e.json !== '')
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

export function runStoreSuite(name: string, factory: StoreFactory | ReadOnlyStoreFactory): void {
  const writable = 'open' in factory ? factory : undefined
  const fresh = async (write = true) => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-store-'))
    return { dir, store: await writable!.open(dir, write) }
  }
  /** A store holding these events: appended batch by batch, or files read where they lie. */
  const holding = async (...files: Array<readonly RawEvent[]>): Promise<AuditStore> => {
    if (!writable) return (factory as ReadOnlyStoreFactory).load(files, mkdtempSync(join(tmpdir(), 'kubetrail-store-')))
    const { store } = await fresh()
    for (const f of files) await store.append(f, 'default')
    return store
  }
  /** Tests of writing: for stores that write. */
  const writes = writable ? it : (_name: string, _test: () => Promise<void>) => undefined

  describe(`store suite: ${name}`, () => {
    it('holds every event once, however often it is given (overlapping files or batches)', async () => {
      const events = rawEvents()
      const store = await holding(events.slice(0, 1000), events.slice(500), events)
      expect(await store.count({})).toBe(events.length)
      expect(await store.count({ verbs: ['get'] })).toBe(events.filter((e) => JSON.parse(e.json).verb === 'get').length)
      const listed = await collect(store.query({ order: 'oldest' }))
      expect(listed).toHaveLength(events.length)
      expect(new Set(listed.map((s) => s.raw)).size).toBe(events.length)
      // a page of events is a page of distinct events
      const paged = await collect(store.query({ order: 'oldest', limit: 700, offset: 650 }))
      expect(new Set(paged.map((s) => s.raw)).size).toBe(700)
      expect(paged.map((s) => s.event.requestReceivedTimestamp)).toEqual(listed.slice(650, 1350).map((s) => s.event.requestReceivedTimestamp))
      await store.close()
    })

    writes('stores every event once, however often it is appended', async () => {
      const { store } = await fresh()
      const events = rawEvents()
      const first = await store.append(events.slice(0, 1000), 'default')
      expect(first.stored).toBe(1000)
      // overlapping re-import, as with rotated files read twice
      const second = await store.append(events.slice(500), 'default')
      expect(second.stored).toBe(events.length - 1000)
      expect(second.duplicates).toBe(500)
      const third = await store.append(events, 'default')
      expect(third).toMatchObject({ stored: 0, duplicates: events.length, link: undefined, storedIndexes: [] })
      // which events of a batch were new: the positions of exactly those
      const fourth = await store.append([events[0]!, { ...events[1]!, json: events[1]!.json.replace('"auditID":"', '"auditID":"new-') }, events[2]!], 'default')
      expect(fourth).toMatchObject({ stored: 1, duplicates: 2, storedIndexes: [1] })
      expect(await store.count({})).toBe(events.length + 1)
      // the same events for another cluster are other events
      expect((await store.append(events.slice(0, 10), 'staging')).stored).toBe(10)
      expect(await store.count({ clusters: ['staging'] })).toBe(10)
      await store.close()
    })

    writes('property: any sequence of overlapping batches stores each event exactly once', async () => {
      const events = rawEvents().slice(0, 300)
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.nat(299), fc.nat(299)), { minLength: 1, maxLength: 4 }), async (ranges) => {
          const { store } = await fresh()
          const covered = new Set<number>()
          let stored = 0
          for (const [a, b] of ranges) {
            const [lo, hi] = a <= b ? [a, b] : [b, a]
            const r = await store.append(events.slice(lo, hi + 1), 'default')
            stored += r.stored
            for (let i = lo; i <= hi; i++) covered.add(i)
            expect(r.stored + r.duplicates).toBe(hi - lo + 1)
          }
          expect(stored).toBe(covered.size)
          expect(await store.count({})).toBe(covered.size)
          expect((await store.verify()).ok).toBe(true)
          await store.close()
        }),
        { numRuns: 12 },
      )
    })

    it('keeps every event losslessly', async () => {
      const events = rawEvents()
      const store = await holding(events)
      const stored = await collect(store.query({ order: 'oldest' }))
      expect(new Set(stored.map((s) => s.raw))).toEqual(new Set(events.map((e) => e.json)))
      await store.close()
    })

    writes('reports malformed events with file and line and stores their neighbours', async () => {
      const { store } = await fresh()
      const events = rawEvents().slice(0, 5)
      events.splice(2, 0, { json: '{"oops": ', file: 'x.log', line: 99 }, { json: '{"kind":"Event","level":"Metadata"}', file: 'x.log', line: 100 })
      const r = await store.append(events, 'default')
      expect(r.stored).toBe(5)
      expect(r.malformed.map((m) => `${m.file}:${m.line}`)).toEqual(['x.log:99', 'x.log:100'])
      expect(r.malformed[0]!.reason).toMatch(/invalid JSON/)
      expect(r.malformed[1]!.reason).toBe('missing field auditID')
      await store.close()
    })

    it('answers "who deleted deployment novelapp" from the real apiserver log', async () => {
      const store = await holding(rawEvents())
      const hits = await collect(store.query({ verbs: ['delete'], resources: [{ apiGroup: 'apps', resource: 'deployments' }], namespace: 'production', name: 'novelapp', stages: ['ResponseComplete'] }))
      expect(hits.map((h) => [h.event.user.username, h.event.responseStatus?.code])).toEqual([
        ['bob@example.com', 200],
        ['bob@example.com', 403],
      ])
      await store.close()
    })

    it('perRequest: one event per request, its latest stage among the matching ones; counts requests; stats give the stored range', async () => {
      const events = rawEvents()
      const store = await holding(events)
      const parsed = events.map((e) => JSON.parse(e.json) as AuditEvent)
      const rank = (s: string) => (s === 'ResponseComplete' || s === 'Panic' ? 3 : s === 'ResponseStarted' ? 2 : 1)
      const best = new Map<string, AuditEvent>()
      for (const p of parsed) {
        const key = `${p.auditID} ${p.requestReceivedTimestamp}`
        const cur = best.get(key)
        if (!cur || rank(p.stage) > rank(cur.stage)) best.set(key, p)
      }
      expect(best.size).toBeLessThan(parsed.length)
      expect(await store.count({ perRequest: true })).toBe(best.size)
      const got = await collect(store.query({ perRequest: true, order: 'oldest' }))
      expect(got.length).toBe(best.size)
      for (const g of got) expect(g.event.stage).toBe(best.get(`${g.event.auditID} ${g.event.requestReceivedTimestamp}`)!.stage)
      // the limit counts requests; filters apply before the choice (a 403 request's RequestReceived has no code)
      expect(await collect(store.query({ perRequest: true, limit: 5 }))).toHaveLength(5)
      const denied = await collect(store.query({ perRequest: true, codes: [{ min: 403, max: 403 }] }))
      expect(denied.length).toBe([...best.values()].filter((b) => b.responseStatus?.code === 403).length)
      expect(denied.length).toBeGreaterThan(0)
      const stats = await store.stats()
      const times = parsed.map((p) => p.requestReceivedTimestamp).sort()
      expect(stats.firstAt!.slice(0, 19)).toBe(times[0]!.slice(0, 19))
      expect(stats.lastAt! >= times[times.length - 1]!.slice(0, 19)).toBe(true)
      await store.close()
    })

    it('filters by user, group, verb, code range, time and namespace, newest first', async () => {
      const events = rawEvents()
      const store = await holding(events)
      const parsed = events.map((e) => JSON.parse(e.json) as { user: { username?: string; groups?: string[] }; verb: string; responseStatus?: { code?: number }; requestReceivedTimestamp: string; objectRef?: { namespace?: string } })
      const expectCount = async (q: Parameters<AuditStore['count']>[0], pred: (p: (typeof parsed)[number]) => boolean) => expect(await store.count(q)).toBe(parsed.filter(pred).length)
      await expectCount({ users: ['alice@example.com'] }, (p) => p.user.username === 'alice@example.com')
      await expectCount({ groups: ['developers'] }, (p) => (p.user.groups ?? []).includes('developers'))
      await expectCount({ verbs: ['create', 'patch'] }, (p) => p.verb === 'create' || p.verb === 'patch')
      await expectCount({ codes: [{ min: 400, max: 499 }] }, (p) => (p.responseStatus?.code ?? 0) >= 400 && (p.responseStatus?.code ?? 0) <= 499)
      await expectCount({ namespace: 'production' }, (p) => p.objectRef?.namespace === 'production')
      const containing = (needles: string[]) => events.filter((e) => needles.some((n) => e.json.includes(n))).length
      expect(await store.count({ eventContainsAny: ['"hostPath"', '"privileged"'] })).toBe(containing(['"hostPath"', '"privileged"']))
      expect(containing(['"privileged"'])).toBeGreaterThan(0)
      const mid = parsed[900]!.requestReceivedTimestamp
      await expectCount({ since: new Date(mid) }, (p) => p.requestReceivedTimestamp >= mid)
      // pages: limit + offset walk the same order without gaps or repeats
      const all = (await collect(store.query({ order: 'oldest' }))).map((e) => e.raw)
      const paged: string[] = []
      for (let offset = 0; offset < all.length; offset += 500) paged.push(...(await collect(store.query({ order: 'oldest', limit: 500, offset }))).map((e) => e.raw))
      expect(paged.length).toBe(all.length)
      expect(new Set(paged).size).toBe(new Set(all).size)
      const newest = await collect(store.query({ limit: 3 }))
      expect(newest).toHaveLength(3)
      const times = newest.map((n) => n.event.requestReceivedTimestamp)
      expect([...times].sort().reverse()).toEqual(times)
      await store.close()
    })

    it('property: sourceExternal keeps exactly the events with an external source address', async () => {
      const octet = fc.integer({ min: 0, max: 255 })
      const ipv4 = fc.oneof(
        fc.tuple(fc.constantFrom(0, 10, 100, 127, 169, 172, 192, 8, 34, 203), octet, octet, octet).map((o) => o.join('.')),
        fc.constantFrom('172.15.0.1', '172.16.0.1', '172.31.255.255', '172.32.0.1', '100.63.0.1', '100.64.0.1', '100.127.1.1', '100.128.0.1', '192.168.1.1', '192.169.0.1', '169.254.1.1', '169.253.0.1'),
      )
      const ip = fc.oneof(ipv4, fc.constantFrom('::1', 'fd00::1', 'fe80::1', '2001:db8::1', '::ffff:10.0.0.1', '::ffff:8.8.8.8', 'not-an-ip'))
      const base = rawEvents().slice(0, 1)[0]!
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(ip, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }), async (ipLists) => {
          const events = ipLists.map((ips, i) => {
            const e = JSON.parse(base.json) as Record<string, unknown>
            return { json: JSON.stringify({ ...e, auditID: `ip-${i}`, sourceIPs: ips }), file: 'gen', line: i + 1 }
          })
          const store = await holding(events)
          const expected = ipLists.filter((ips) => ips.some(isExternalIP)).length
          expect(await store.count({ sourceExternal: true })).toBe(expected)
          expect(await store.count({ sourceExternal: false })).toBe(ipLists.length - expected)
          await store.close()
        }),
        { numRuns: 15 },
      )
    })

    it('privilegedPod and authFailed select what the presets\' body checks select, on a real log', async () => {
      const events = rawEvents()
      const store = await holding(events)
      const parsed = events.map((e) => JSON.parse(e.json) as AuditEvent)
      const privileged = parsed.filter((e) => carriesPodSpec(e.objectRef) && privilegedReasons(e.requestObject).length > 0)
      const failed = parsed.filter((e) => e.responseStatus?.code === 401 || (e.objectRef?.resource === 'tokenreviews' && e.objectRef.apiGroup === 'authentication.k8s.io' && tokenReviewFailed(e)))
      // the fixture has both (a privileged pod and failed logins), so equality is not trivially 0 = 0
      expect(privileged.length).toBeGreaterThan(0)
      expect(failed.length).toBeGreaterThan(0)
      expect(await store.count({ privilegedPod: true })).toBe(privileged.length)
      expect(await store.count({ authFailed: true })).toBe(failed.length)
      await store.close()
    })

    writes('verifies its chain, and names the batch that was tampered with', async () => {
      if (!writable?.tamper) return
      for (const how of ['alter', 'delete-event', 'reorder', 'insert', 'remove-batch'] as const) {
        const { dir, store } = await fresh()
        const events = rawEvents()
        for (let i = 0; i < 4; i++) await store.append(events.slice(i * 400, (i + 1) * 400), 'default')
        expect((await store.verify()).ok).toBe(true)
        await store.close()
        await writable!.tamper(dir, 3, how)
        const reopened = await writable!.open(dir, false)
        const report = await reopened.verify()
        expect(report.ok, how).toBe(false)
        expect(report.problems.map((p) => p.seq), how).toContain(3)
        expect(report.problems.every((p) => p.seq >= 3), how).toBe(true)
        await reopened.close()
      }
    })

    writes('compacts small batches into one segment: same events, same answers, chain still verifiable', async () => {
      const { dir, store } = await fresh()
      const events = rawEvents()
      for (let i = 0; i < events.length; i += 150) await store.append(events.slice(i, i + 150), 'default')
      const before = (await collect(store.query({ order: 'oldest' }))).map((e) => e.raw)
      const batches = (await store.stats()).batches
      const merged = await store.compact({ smallerThan: 1000, targetEvents: 700 })
      expect(merged).toBeGreaterThan(0)
      expect((await store.stats()).batches).toBe(batches - merged)
      const after = (await collect(store.query({ order: 'oldest' }))).map((e) => e.raw)
      expect(after.sort()).toEqual(before.sort())
      expect(await store.count({ verbs: ['delete'] })).toBe(events.filter((e) => JSON.parse(e.json).verb === 'delete').length)
      // appending what is already there after a compaction still adds nothing
      expect((await store.append(events.slice(0, 300), 'default')).stored).toBe(0)
      expect((await store.verify()).ok).toBe(true)
      await store.close()
      const reopened = await writable!.open(dir, false)
      expect((await reopened.verify()).ok).toBe(true)
      await reopened.close()
    })

    writes('prunes whole old batches and keeps the chain verifiable', async () => {
      const { store } = await fresh()
      const events = rawEvents()
      await store.append(events.slice(0, 900), 'default')
      await store.append(events.slice(900), 'default')
      const firstBatchLast = (await collect(store.query({ order: 'oldest' })))[0]!.event
      const cutoff = new Date(Date.parse(firstBatchLast.requestReceivedTimestamp) + 1)
      const before = await store.count({})
      const report = await store.prune(cutoff)
      const after = await store.count({})
      expect(before - after).toBe(report.prunedEvents)
      expect((await store.verify()).ok).toBe(true)
      await store.close()
    })

    writes('compaction refuses to merge a batch that is not what was committed (8 events re-attributed), and verify keeps reporting it', async () => {
      if (!writable?.tamper) return
      const { dir, store } = await fresh()
      const events = rawEvents()
      for (let i = 0; i < 5; i++) await store.append(events.slice(i * 150, (i + 1) * 150), 'default')
      await store.close()
      await writable!.tamper(dir, 3, 'reattribute')
      const writer = await writable!.open(dir, true)
      expect(await writer.count({ users: ['mallory@example.com'] })).toBe(8)
      await expect(writer.compact({ smallerThan: 1000, targetEvents: 100_000 })).rejects.toMatchObject({ code: 'KT_STORE_TAMPERED', message: expect.stringMatching(/^compaction refused: batch 3 /) })
      expect((await writer.stats()).batches).toBe(5)
      const report = await writer.verify()
      expect(report.ok).toBe(false)
      expect(report.problems.map((p) => p.seq)).toEqual([3])
      await writer.close()
    })

    writes('prune decides from the events: a recent batch whose link says it ended in 2001 is kept, and verify names the edited link', async () => {
      if (!writable?.editLink) return
      const { dir, store } = await fresh()
      const events = rawEvents()
      await store.append(events.slice(0, 900), 'default')
      await store.append(events.slice(900), 'default')
      await store.close()
      await writable!.editLink(dir, 2, (l) => void (l.lastAt = '2001-01-01T00:00:00.000000Z'))
      const writer = await writable!.open(dir, true)
      const newest = Math.max(...events.map((e) => Date.parse((JSON.parse(e.json) as AuditEvent).stageTimestamp)))
      // a cutoff after 2001 but before the batch's own events
      expect(await writer.prune(new Date(newest - 86_400_000 * 365))).toEqual({ prunedBatches: 0, prunedEvents: 0 })
      expect(await writer.count({})).toBe(events.length)
      const report = await writer.verify()
      expect(report.problems).toEqual([{ seq: 2, problem: expect.stringMatching(/own hash does not match/) }])
      await writer.close()
    })

    writes('a tail cut off the chain (the last link and its data) passes a plain verify, but not one with the head recorded before', async () => {
      if (!writable?.tamper) return
      const { dir, store } = await fresh()
      const events = rawEvents()
      for (let i = 0; i < 3; i++) await store.append(events.slice(i * 300, (i + 1) * 300), 'default')
      const recorded = (await store.head())!
      expect(recorded.seq).toBe(3)
      await store.close()
      await writable!.tamper(dir, 3, 'truncate')
      const reader = await writable!.open(dir, false)
      expect((await reader.verify()).ok).toBe(true)
      const report = await reader.verify({ expectHead: recorded })
      expect(report.ok).toBe(false)
      expect(report.problems).toEqual([{ seq: 3, problem: expect.stringMatching(/recorded head [0-9a-f]{64} is link 3, but the chain ends at link 2/) }])
      await reader.close()
    })

    writes('lets a reader query while a writer holds the store, and refuses a second writer clearly', async () => {
      const { dir, store } = await fresh()
      await store.append(rawEvents().slice(0, 100), 'default')
      const reader = await writable!.open(dir, false)
      expect(await reader.count({})).toBe(100)
      await expect(writable!.open(dir, true)).rejects.toMatchObject({ code: 'KT_STORE_BUSY' })
      await reader.close()
      await store.close()
    })
    it('groups requests for authorization questions (access) exactly as the events say, when it has its own', async () => {
      // a second cluster where the store can be given one (a read-only store reads its files as one)
      const store = writable ? (await fresh()).store : await holding(rawEvents())
      if (writable) {
        await store.append(rawEvents(), 'default')
        await store.append(rawEvents().slice(0, 300), 'staging')
      }
      if (!store.access) return void (await store.close())
      const key = (r: AccessRow) => JSON.stringify([r.cluster, r.user, r.groups, r.impersonatedUser, r.impersonatedGroups, r.verb, r.apiGroup, r.resource, r.subresource, r.namespace, r.name, r.path, r.code, r.decision, r.reason])
      const sorted = (rows: AccessRow[]) => rows.map((r) => ({ ...r, key: key(r) })).sort((a, b) => a.key.localeCompare(b.key))
      const queries: Array<[EventQuery, boolean]> = [[{}, true], [{}, false], [{ users: ['alice@example.com'] }, true], ...(writable ? [[{ clusters: ['staging'], verbs: ['get'] }, true] as [EventQuery, boolean]] : []), [{ since: new Date('2026-11-22T21:06:00Z') }, false]]
      for (const [q, names] of queries) {
        const summary = new AccessSummary({ names })
        for await (const e of store.query(q)) summary.add(e)
        const expected = summary.result()
        expect(expected.length).toBeGreaterThan(0)
        expect(sorted(await store.access(q, { names }))).toEqual(sorted(expected))
      }
      const rows = await store.access({ users: ['bob@example.com'], verbs: ['delete'], resources: [{ resource: 'deployments', apiGroup: 'apps' }] })
      expect(rows.sort((a, b) => a.code - b.code)).toMatchObject([
        { name: 'novelapp', code: 200, decision: 'allow', reason: expect.stringContaining('bob-cluster-admin'), requests: 1 },
        { name: 'novelapp', code: 403, decision: 'forbid', requests: 1 },
      ])
      await store.close()
    })
  })
}
