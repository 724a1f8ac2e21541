import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { DuckDBInstance } from '@duckdb/node-api'
import { auditTimeMicros, type AuditEvent } from '../../model/index.js'
import { checkAuditEvent } from '../../model/check.js'
import { requireFixture, GEN_AUDIT } from '../../../test/support/fixtures.js'
import { rawEvents } from '../store.suite.js'
import { DuckDbSegmentStore } from './segment-store.js'
import { jsonOfStoreLine, storeLine } from './store-line.js'
import { sqlString, TS } from './columns.js'

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x))

/**
 * Stores `events` both ways, as a WAL file of store lines (the collector's) and as JSON (an
 * import), and returns every stored column of both, row by row.
 */
async function storedBothWays(events: readonly AuditEvent[]): Promise<{ fromLines: string[]; fromJson: string[]; slow: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-store-line-'))
  const texts = events.map((e) => JSON.stringify(e))
  const lines = events.map((e, i) => storeLine(e, texts[i]!))
  const wal = join(dir, 'x.wal')
  writeFileSync(wal, lines.map((l) => `c1\t${l}\n`).join(''))
  const out: string[][] = []
  for (const how of ['lines', 'json'] as const) {
    const store = await DuckDbSegmentStore.open(join(dir, how), { write: true })
    if (how === 'lines') {
      const [batch] = await store.appendClusterLines(wal)
      expect(batch!.result.malformed).toEqual([])
    } else {
      const result = await store.append(texts.map((t, i) => ({ json: t, file: 'gen', line: i + 1 })), 'c1')
      expect(result.malformed).toEqual([])
    }
    const { rows } = await store.sql('SELECT * FROM events ORDER BY audit_id, stage, request_received_at, event')
    out.push(rows.map(json))
    await store.close()
  }
  rmSync(dir, { recursive: true, force: true })
  return { fromLines: out[0]!, fromJson: out[1]!, slow: lines.filter((l) => l.split('\t')[1] === 'true').length }
}

function expectSameRows(r: { fromLines: string[]; fromJson: string[] }, count: number): void {
  expect(r.fromLines.length).toBe(count)
  expect(r.fromJson.length).toBe(count)
  for (let i = 0; i < count; i++) expect(r.fromLines[i], `row ${i}`).toBe(r.fromJson[i])
}

describe('store lines', () => {
  it('store every column as an import of the same JSON does: real apiserver events and generated ones', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kubetrail-gen-')), 'gen.log')
    execFileSync(process.execPath, [requireFixture(GEN_AUDIT), '--events', '4000', '--seed', '11', '--out', file], { stdio: 'ignore' })
    const events = [...rawEvents(), ...rawEvents(file)].map((e) => JSON.parse(e.json) as AuditEvent)
    expect(events.every((e) => checkAuditEvent(e) === undefined)).toBe(true)
    const r = await storedBothWays(events)
    expectSameRows(r, new Set(events.map((e) => `${e.auditID} ${e.stage} ${e.requestReceivedTimestamp}`)).size)
    // the apiserver's events take the fast way: nothing in them needs the SQL
    expect(r.slow).toBe(0)
  })

  it('property: odd values (tabs, line breaks, NUL, \\N, escapes, huge codes, index-like annotation keys) come out the same either way', async () => {
    const base = JSON.parse(rawEvents()[0]!.json) as AuditEvent
    // mostly plain values (a line is slow when any one of its ~25 values is odd)
    const odd = fc.oneof(
      { arbitrary: fc.stringMatching(/^[a-z0-9:.-]{0,10}$/), weight: 12 },
      { arbitrary: fc.constantFrom('', 'a\tb', 'x\ny', 'cr\r', 'nul\0', '\\N', 'back\\slash', 'é', '😀', '"q"', '\u2028', '\u001f'), weight: 1 },
      { arbitrary: fc.string({ maxLength: 8, unit: 'grapheme' }), weight: 1 },
    )
    const maybe = <T,>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined })
    const time = fc
      .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), fc.integer({ min: 0, max: 86_399 }), fc.constantFrom('', '.5', '.123', '.000001', '.999999'))
      .map(([y, m, d, s, f]) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}T${new Date(s * 1000).toISOString().slice(11, 19)}${f}Z`)
    const event = fc.record({
      auditID: odd.filter((s) => s !== ''),
      username: maybe(odd),
      groups: maybe(fc.array(odd, { maxLength: 3 })),
      impersonated: maybe(fc.record({ username: maybe(odd), groups: maybe(fc.array(odd, { maxLength: 2 })) })),
      sourceIPs: maybe(fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), odd), { maxLength: 3 })),
      userAgent: maybe(odd),
      ref: maybe(fc.record({ resource: maybe(odd), namespace: maybe(odd), name: maybe(odd), apiGroup: maybe(odd), subresource: maybe(odd) })),
      code: maybe(fc.oneof(fc.integer({ min: 100, max: 599 }), fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 40))),
      message: maybe(odd),
      annotations: maybe(fc.dictionary(fc.oneof(odd, fc.constantFrom('1', '10', 'a.b/c')), odd, { maxKeys: 3 })),
      received: time,
      staged: time,
    })
    let slow = 0
    let fast = 0
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 25 }), async (generated) => {
        const events = generated.map((g, i) => {
          const e: AuditEvent = { ...base, auditID: `${i}-${g.auditID}`, requestReceivedTimestamp: g.received, stageTimestamp: g.staged, user: { username: g.username, groups: g.groups } }
          if (g.impersonated) e.impersonatedUser = g.impersonated
          if (g.sourceIPs) e.sourceIPs = g.sourceIPs
          else delete e.sourceIPs
          if (g.userAgent !== undefined) e.userAgent = g.userAgent
          if (g.ref) e.objectRef = g.ref
          else delete e.objectRef
          e.responseStatus = { metadata: {}, code: g.code, message: g.message }
          if (g.annotations) e.annotations = g.annotations
          return JSON.parse(JSON.stringify(e)) as AuditEvent
        })
        for (const e of events) expect(checkAuditEvent(e)).toBeUndefined()
        const r = await storedBothWays(events)
        expectSameRows(r, events.length)
        slow += r.slow
        fast += events.length - r.slow
      }),
      { numRuns: 25 },
    )
    // both ways of reading a store line were exercised
    expect(slow).toBeGreaterThan(10)
    expect(fast).toBeGreaterThan(10)
  })

  it('store each event once: repeated within a file (the slow way too), and again in a later file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-store-line-'))
    const [a, b, c] = rawEvents().slice(0, 3).map((e) => JSON.parse(e.json) as AuditEvent) as [AuditEvent, AuditEvent, AuditEvent]
    const odd = { ...c, userAgent: 'tab\there' }
    const write = (name: string, events: AuditEvent[]) => {
      writeFileSync(join(dir, name), events.map((e) => `c1\t${storeLine(e, JSON.stringify(e))}\n`).join(''))
      return join(dir, name)
    }
    const store = await DuckDbSegmentStore.open(join(dir, 'store'), { write: true })
    const [first] = await store.appendClusterLines(write('1.wal', [a, b, a, odd, odd]))
    expect(first!.result).toMatchObject({ stored: 3, duplicates: 2 })
    const [second] = await store.appendClusterLines(write('2.wal', [b, a]))
    expect(second!.result).toMatchObject({ stored: 0, duplicates: 2 })
    const { rows } = await store.sql('SELECT audit_id, user_agent FROM events ORDER BY audit_id')
    expect(rows).toEqual([a, b, odd].map((e) => [e.auditID, e.userAgent]).sort((x, y) => String(x[0]).localeCompare(String(y[0]))))
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('mark a line slow only when a value cannot be written as it is', () => {
    const base = JSON.parse(rawEvents()[0]!.json) as AuditEvent
    const slowOf = (e: AuditEvent) => storeLine(e, JSON.stringify(e)).split('\t')[1]
    expect(slowOf(base)).toBe('false')
    expect(slowOf({ ...base, userAgent: 'a\tb' })).toBe('true')
    expect(slowOf({ ...base, userAgent: 'a\nb' })).toBe('true')
    expect(slowOf({ ...base, userAgent: '\\N' })).toBe('true')
    expect(slowOf({ ...base, annotations: { '1': 'x' } })).toBe('true')
    expect(slowOf({ ...base, annotations: { a: 'bell \u0007' } })).toBe('true')
    expect(slowOf({ ...base, annotations: { a: 'allowed by ClusterRoleBinding "x" of C:\\' } })).toBe('false')
    // lists are JSON: a tab in a group is escaped there, not a reason to go slow
    expect(slowOf({ ...base, user: { ...base.user, groups: ['a\tb'] } })).toBe('false')
    const e = { ...base, userAgent: 'a\tb' }
    expect(jsonOfStoreLine(storeLine(e, JSON.stringify(e)))).toBe(JSON.stringify(e))
    expect(jsonOfStoreLine('{"kind":"Event"}')).toBe('{"kind":"Event"}')
  })
})

describe('audit times', () => {
  it('property: auditTimeMicros accepts exactly what the store\'s SQL reads, as the same instant', async () => {
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'))
    const valid = fc
      .tuple(fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')), two(13), two(32), two(25), two(61), two(61), fc.constantFrom('', '.', '.5', '.123', '.000001', '.999999', '.1234567'))
      .map(([y, mo, d, h, mi, s, f]) => `${y}-${mo}-${d}T${h}:${mi}:${s}${f}Z`)
    const mangled = fc.tuple(valid, fc.nat(30), fc.constantFrom('', ' ', 'z', '+00:00', '1', '-', 't')).map(([v, at, ins]) => v.slice(0, at) + ins + v.slice(at + (ins === '' ? 1 : 0)))
    const samples = fc.sample(fc.oneof(valid, valid, mangled, fc.constantFrom('2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '0000-02-29T00:00:00Z', '2024-1-01T00:00:00Z')), { numRuns: 3000, seed: 5 })
    const db = await DuckDBInstance.create(':memory:')
    const c = await db.connect()
    const reader = await c.runAndReadAll(`SELECT s, CAST(epoch_us(${TS('s')}) AS VARCHAR) AS us FROM unnest([${samples.map(sqlString).join(', ')}]::VARCHAR[]) t(s)`)
    const sql = new Map(reader.getRows().map(([s, us]) => [s as string, (us as string | null) ?? undefined]))
    let accepted = 0
    for (const s of samples) {
      expect(auditTimeMicros(s), s).toBe(sql.get(s))
      if (sql.get(s) !== undefined) accepted++
    }
    expect(accepted).toBeGreaterThan(300)
    expect(accepted).toBeLessThan(samples.length)
    c.closeSync()
    db.closeSync()
  })

  it('reads the apiserver\'s MicroTime as its microsecond', () => {
    expect(auditTimeMicros('1970-01-01T00:00:01.000002Z')).toBe('1000002')
    expect(auditTimeMicros('1969-12-31T23:59:59.5Z')).toBe('-500000')
    expect(auditTimeMicros('2024-06-01T00:00:00.000729Z')).toBe(String(Date.UTC(2024, 5, 1) * 1000 + 729))
    expect(auditTimeMicros('9999-12-31T23:59:59.999999Z')).toBe('253402300799999999')
  })
})
