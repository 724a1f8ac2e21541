import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { BodyInvalidError, decodeBody, processEvents } from './pipeline.js'
import { Redactor, REDACTED_PREFIX } from '../ingest/index.js'
import { compilePolicy, parsePolicyObject } from '../policy/index.js'
import { jsonOfStoreLine } from '../store/index.js'

/** The JSON of each accepted event (the pipeline hands the WAL store lines: columns, then the JSON). */
const jsonOf = (r: { accepted: string[] }) => r.accepted.map(jsonOfStoreLine)

const FULL = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))
const WEBHOOK_BODY = requireFixture(resolve(FIXTURES_DIR, 'runs/full/webhook/req-00001.body'))
const redactor = new Redactor(Buffer.alloc(32, 7))

describe('decodeBody', () => {
  it('reads the real apiserver webhook body: an EventList whose items have no kind/apiVersion', () => {
    const items = decodeBody(readFileSync(WEBHOOK_BODY, 'utf8'))
    expect(items).toHaveLength(400)
    const r = processEvents(items, {})
    expect(r.rejected).toEqual([])
    expect(r.accepted).toHaveLength(400)
    // stored like the log backend's lines
    for (const json of jsonOf(r)) expect(json.startsWith('{"kind":"Event","apiVersion":"audit.k8s.io/v1",')).toBe(true)
  })

  it('reads one Event and NDJSON; a bad line is reported by number and costs nothing else', () => {
    const lines = readFileSync(FULL, 'utf8').split('\n').slice(0, 5)
    expect(decodeBody(lines[0]!)).toHaveLength(1)
    const body = [lines[0], '{"not json', lines[1], '{"kind":"Event"}', lines[2]].join('\n')
    const r = processEvents(decodeBody(body), {})
    expect(r.accepted).toHaveLength(3)
    expect(r.rejected.map((x) => x.at)).toEqual(['line 2', 'line 4'])
    expect(r.rejected[0]!.reason).toMatch(/^not JSON/)
    expect(r.rejected[1]!.reason).toMatch(/missing field/)
  })

  it('never lets a raw line break into an accepted event, nor a tab into its JSON (WAL lines are read by a line reader; the JSON is a store line\'s last field)', () => {
    const line = readFileSync(FULL, 'utf8').split('\n')[0]!
    // CR, LF and tab are JSON whitespace between tokens; items written that way are serialized again
    for (const sep of ['\r', '\n', '\r\n', '\t']) {
      const item = line.replace('"level":', `${sep}"level":`)
      const r = processEvents(decodeBody(`{"kind":"EventList","items":[${item}, ${line}]}`), {})
      expect(r.accepted).toHaveLength(2)
      for (const text of r.accepted) expect(text).not.toMatch(/[\r\n]/)
      for (const json of jsonOf(r)) expect(json).not.toContain('\t')
      expect(JSON.parse(jsonOf(r)[0]!)).toEqual(JSON.parse(line))
    }
  })

  it('refuses, with a reason, an event the store could not keep (a time it cannot read); stores one with a lone surrogate with U+FFFD, annotated', () => {
    const line = readFileSync(FULL, 'utf8').split('\n')[0]!
    const event = JSON.parse(line) as Record<string, unknown>
    const bad = [
      { ...event, auditID: 'a', requestReceivedTimestamp: '2024-1-01T00:00:00Z' },
      { ...event, auditID: 'b', stageTimestamp: '2023-02-29T00:00:00.000000Z' },
      { ...event, auditID: 'c', stageTimestamp: '2024-06-01T00:00:00.1234567Z' },
      { ...event, auditID: 'd', userAgent: 'kubectl \ud800' },
    ]
    // an escaped pair is one character, and a literal backslash before "ud800" no escape at all
    const good = [{ ...event, auditID: 'e', userAgent: 'kubectl \ud83d\ude00' }, { ...event, auditID: 'f', userAgent: 'kubectl \\ud800' }]
    const r = processEvents(decodeBody([...bad, ...good].map((e) => JSON.stringify(e)).join('\n')), {})
    expect(r.rejected.map((x) => x.at)).toEqual(['line 1', 'line 2', 'line 3'])
    expect(r.rejected[0]!.reason).toMatch(/^requestReceivedTimestamp: not an RFC 3339 time/)
    expect(r.rejected[1]!.reason).toMatch(/^stageTimestamp: not an RFC 3339 time/)
    expect(r.rejectedCount).toBe(3)
    // an API user's patch can hold "\ud800": refusing it would let them keep their request out of the store
    expect(r.events.map((e) => e.auditID)).toEqual(['d', 'e', 'f'])
    expect(r.events[0]!.userAgent).toBe('kubectl \ufffd')
    expect(r.events[0]!.annotations?.['kubetrail.io/sanitized']).toMatch(/lone UTF-16 surrogate/)
    expect(jsonOf(r)[0]).not.toMatch(/\\ud800/i)
  })

  it('parses an EventList item by item: a broken item is refused alone, and a repeated items key reads as JSON.parse reads it', () => {
    const [a, b] = readFileSync(FULL, 'utf8').split('\n').slice(0, 2) as [string, string]
    const broken = processEvents(decodeBody(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${a},{"auditID": },${b}]}`), {})
    expect(jsonOf(broken).map((j) => (JSON.parse(j) as { auditID: string }).auditID)).toEqual([a, b].map((l) => (JSON.parse(l) as { auditID: string }).auditID))
    expect(broken.rejected.map((r) => r.at)).toEqual(['items[1]'])
    expect(broken.rejected[0]!.reason).toMatch(/^not JSON/)
    // JSON.parse keeps the last of two keys; the item scanner finds the first
    const twice = processEvents(decodeBody(`{"kind":"EventList","items":[${a}],"items":[${b}]}`), {})
    expect(jsonOf(twice).map((j) => JSON.parse(j) as unknown)).toEqual([JSON.parse(b)])
    // a broken envelope is still a broken body
    expect(() => decodeBody(`{"kind":"EventList","items":[${a}],}`)).toThrow(BodyInvalidError)
  })

  it('hands each accepted event to onEvent instead of keeping it', () => {
    const lines = readFileSync(FULL, 'utf8').split('\n').slice(0, 5)
    const seen: string[] = []
    const r = processEvents(decodeBody(`{"kind":"EventList","items":[${lines.join(',')}]}`), { onEvent: (e) => seen.push(e.auditID) })
    expect(seen).toEqual(lines.map((l) => (JSON.parse(l) as { auditID: string }).auditID))
    expect(r.events).toEqual([])
    expect(r.accepted).toHaveLength(5)
  })

  it('refuses bodies with nothing usable, with a reason', () => {
    expect(() => decodeBody('')).toThrow(BodyInvalidError)
    expect(() => decodeBody('{"kind":"Pod","apiVersion":"v1"}')).toThrow(/kind "Pod" is not an audit Event/)
    expect(() => decodeBody('[1,2,3]')).toThrow(/JSON object/)
    expect(() => decodeBody('{"kind":"EventList","items":{}}')).toThrow(/items list/)
    expect(() => decodeBody('{"truncated')).toThrow(/not JSON/)
  })

  it('property: any body either decodes into per-item results or is refused with BodyInvalidError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.array(fc.json()).map((a) => a.join('\n'))), (body) => {
        try {
          const r = processEvents(decodeBody(body), { redactor })
          expect(r.accepted.length + r.rejected.length).toBeGreaterThanOrEqual(0)
        } catch (error) {
          expect(error).toBeInstanceOf(BodyInvalidError)
        }
      }),
      { numRuns: 500 },
    )
  })
})

describe('secret redaction', () => {
  const events = readFileSync(FULL, 'utf8').split('\n').filter(Boolean)
  const stored = processEvents(decodeBody(events.join('\n')), { redactor }).accepted.join('\n')

  it('leaves no Secret value, token or static-token credential of the real log readable', () => {
    expect(readFileSync(FULL, 'utf8')).toContain('UzNjcjN0LVBhc3N3MHJk')
    for (const secret of ['UzNjcjN0LVBhc3N3MHJk', 'YXBw', 'alice-token-0000000000000002', 'bogus-token-value', 'eyJhbGciOiJSUzI1NiIs']) expect(stored, secret).not.toContain(secret)
    expect(stored).toContain(REDACTED_PREFIX)
  })

  it('gives equal values equal markers (correlation) and different values different ones', () => {
    const marker = (v: string) => redactor.marker(v)
    expect(marker('a')).toBe(marker('a'))
    expect(marker('a')).not.toBe(marker('b'))
    expect(new Redactor(Buffer.alloc(32, 8)).marker('a')).not.toBe(marker('a'))
    const passwords = stored.match(/"password":"([^"]+)"/g) ?? []
    expect(passwords.length).toBeGreaterThan(1)
    expect(new Set(passwords).size).toBe(1)
  })

  it('redacts patches, lists, last-applied-configuration and Authorization-like fields', () => {
    const base = { kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: 'x', stage: 'ResponseComplete', requestURI: '/api/v1/namespaces/a/secrets/s', verb: 'patch', user: { username: 'u' }, requestReceivedTimestamp: '2026-01-01T00:00:00.000000Z', stageTimestamp: '2026-01-01T00:00:00.000000Z', objectRef: { resource: 'secrets', namespace: 'a', name: 's', apiVersion: 'v1' } }
    const cases = [
      { requestObject: [{ op: 'add', path: '/data/key', value: 'c2VjcmV0' }], secret: 'c2VjcmV0' },
      { requestObject: { stringData: { key: 'plain-secret' } }, secret: 'plain-secret' },
      { responseObject: { kind: 'SecretList', items: [{ data: { k: 'bGlzdGVk' } }] }, secret: 'bGlzdGVk' },
      { responseObject: { kind: 'Secret', metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"k":"YXBwbGllZA=="}}' } } }, secret: 'YXBwbGllZA==' },
      { requestObject: { spec: { headers: { Authorization: 'Bearer hunter2' } } }, secret: 'hunter2', objectRef: { resource: 'configmaps', apiVersion: 'v1' } },
    ]
    for (const { secret, ...fields } of cases) {
      const r = processEvents([{ at: 'event', value: { ...base, ...fields } }], { redactor })
      expect(r.accepted).toHaveLength(1)
      expect(r.accepted[0], secret).not.toContain(secret)
      expect(r.redactedValues).toBeGreaterThan(0)
    }
  })

  it('stores values as received only when redaction is off', () => {
    const plain = processEvents(decodeBody(events.join('\n')), {}).accepted.join('\n')
    expect(plain).toContain('UzNjcjN0LVBhc3N3MHJk')
  })
})

describe('kubetrail-side policy', () => {
  it('drops what the policy does not log and trims bodies down, never up', () => {
    const policy = compilePolicy(
      parsePolicyObject({
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        omitStages: ['RequestReceived'],
        rules: [{ level: 'None', users: ['system:apiserver'] }, { level: 'Metadata', resources: [{ group: '', resources: ['secrets'] }] }, { level: 'RequestResponse' }],
      }),
    )
    const items = decodeBody(readFileSync(FULL, 'utf8'))
    const r = processEvents(items, { policy })
    const kept = jsonOf(r).map((j) => JSON.parse(j) as { stage: string; user: { username?: string }; objectRef?: { resource?: string }; requestObject?: unknown; responseObject?: unknown; level: string })
    expect(r.dropped).toBeGreaterThan(0)
    expect(kept.length + r.dropped).toBe(items.length)
    expect(kept.some((e) => e.stage === 'RequestReceived')).toBe(false)
    expect(kept.some((e) => e.user.username === 'system:apiserver')).toBe(false)
    const secrets = kept.filter((e) => e.objectRef?.resource === 'secrets')
    expect(secrets.length).toBeGreaterThan(0)
    for (const s of secrets) {
      expect(s.level).toBe('Metadata')
      expect(s.requestObject).toBeUndefined()
      expect(s.responseObject).toBeUndefined()
    }
  })
})

describe('itemSpans', () => {
  it('property: every span is exactly the text of one item, whatever the layout', async () => {
    const { itemSpans } = await import('./item-spans.js')
    const item = fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 })
    fc.assert(
      fc.property(fc.array(item, { maxLength: 8 }), fc.jsonValue(), fc.constantFrom(0, 2), fc.boolean(), (items, metadata, indent, itemsFirst) => {
        const list = itemsFirst ? { items, kind: 'EventList', metadata } : { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata, items }
        const body = JSON.stringify(list, null, indent)
        const spans = itemSpans(body)
        expect(spans).toBeDefined()
        expect(spans!.map(([s, e]) => JSON.parse(body.slice(s, e)) as unknown)).toEqual(JSON.parse(body).items)
      }),
      { numRuns: 300 },
    )
  })

  it('stores webhook items byte for byte as sent, with kind/apiVersion in front', () => {
    const body = readFileSync(WEBHOOK_BODY, 'utf8')
    const items = decodeBody(body)
    const r = processEvents(items, {})
    const parsed = JSON.parse(body) as { items: unknown[] }
    jsonOf(r).forEach((json, i) => {
      expect(json.startsWith('{"kind":"Event","apiVersion":"audit.k8s.io/v1",')).toBe(true)
      expect(body).toContain(json.slice('{"kind":"Event","apiVersion":"audit.k8s.io/v1",'.length))
      expect(JSON.parse(json)).toEqual({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...(parsed.items[i] as object) })
    })
  })
})
