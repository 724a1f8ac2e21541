import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { readAuditLogAll, type AuditRecord } from './index.js'

const RUNS = requireFixture(resolve(FIXTURES_DIR, 'runs'))

/** Every audit log and webhook body among the real-apiserver fixtures (JSON formats only). */
function fixtureLogs(dir = RUNS): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return fixtureLogs(path)
    return /^audit.*\.log(\.gz)?$|^req-\d+\.body(\.gz)?$/.test(name) && !path.includes('legacy-format') ? [path] : []
  })
}

const GOOD = readFileSync(join(RUNS, 'full/audit.log'), 'utf8').split('\n').filter(Boolean)
const WITH_BODIES = GOOD.filter((l) => l.includes(',"requestObject":') && l.includes(',"responseObject":'))

async function read(lines: string[], mode: 'head' | 'full') {
  return readAuditLogAll('-', { mode, stdin: Readable.from([Buffer.from(lines.join('\n') + '\n')]) })
}

/** Head mode holds the same event as a full parse: metadata now, bodies and annotations on demand. */
function expectSameEvent(head: AuditRecord, full: AuditRecord): void {
  expect(head.fullEvent()).toEqual(full.event)
  const { requestObject, responseObject, annotations, ...meta } = full.event
  const { requestObject: hq, responseObject: hr, annotations: ha, ...headMeta } = head.event
  expect(headMeta).toEqual(meta)
  if (!head.isHead) expect([hq, hr, ha]).toEqual([requestObject, responseObject, annotations])
  expect(head.body('requestObject')).toEqual(requestObject)
  expect(head.body('responseObject')).toEqual(responseObject)
  expect([head.hasRequestObject, head.hasResponseObject]).toEqual([requestObject !== undefined, responseObject !== undefined])
}

describe('head mode equals full mode', () => {
  const files = fixtureLogs()

  it('finds the fixture logs', () => {
    expect(files.length).toBeGreaterThan(25)
  })

  it.each(files.map((f) => [f.slice(RUNS.length + 1), f]))('on every event of %s', async (_name, file) => {
    const head = await readAuditLogAll(file, { mode: 'head' })
    const full = await readAuditLogAll(file, { mode: 'full' })
    expect(head.malformed).toEqual(full.malformed)
    expect(head.records.length).toBe(full.records.length)
    head.records.forEach((h, i) => {
      const f = full.records[i]!
      expect(h.line).toBe(f.line)
      expectSameEvent(h, f)
      expect([h.bytes, h.requestObjectBytes, h.responseObjectBytes]).toEqual([f.bytes, f.requestObjectBytes, f.responseObjectBytes])
    })
  })

  it('on hand-made lines that put keys where the encoder never would', async () => {
    const base = JSON.parse(WITH_BODIES[0]!) as Record<string, unknown>
    const line = JSON.stringify(base)
    const at = (key: string) => line.indexOf(`,"${key}":`)
    const lines = [
      // a top-level key hidden between the two bodies overrides the earlier one
      line.slice(0, at('responseObject')) + ',"level":"None"' + line.slice(at('responseObject')),
      // ... or after the annotations
      line.slice(0, -1) + ',"verb":"delete"}',
      // a nested key named like a body, and an annotation named "annotations"
      line.replace('"user":{', '"user":{"extra":{"requestObject":["x"]},').replace(/\}$/, ',"annotations":{"annotations":"}"}}'),
      // scalar, null and array bodies; strings that look like keys
      JSON.stringify({ ...base, requestObject: 'a\\",\\"level\\":\\"None', responseObject: null }),
      JSON.stringify({ ...base, requestObject: [1, { a: '"]}' }], responseObject: 3.5e-7 }),
      JSON.stringify({ ...base, requestObject: { '","responseObject":': '\\' }, annotations: undefined }),
      // a body only, no annotations
      JSON.stringify({ ...base, requestObject: undefined, annotations: undefined }),
    ]
    const head = await read(lines, 'head')
    const full = await read(lines, 'full')
    expect(full.records.length).toBe(lines.length) // duplicate keys: the last one wins, as in Go
    expect(head.records.length).toBe(full.records.length)
    expect(head.malformed).toEqual(full.malformed)
    head.records.forEach((h, i) => expectSameEvent(h, full.records[i]!))
    expect(head.records[0]!.event.level).toBe('None')
    expect(head.records[1]!.event.verb).toBe('delete')
  })
})

const TOP_LEVEL_KEYS = ['kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'sourceIPs', 'objectRef', 'responseStatus', 'requestObject', 'responseObject', 'stageTimestamp', 'annotations']

describe('head mode properties', () => {
  it('a key inserted anywhere in a real line: whenever the line parses, head mode equals full mode', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...WITH_BODIES.slice(0, 60)), fc.nat(), fc.constantFrom(...TOP_LEVEL_KEYS), fc.jsonValue({ maxDepth: 2 }), async (line, pos, key, value) => {
        const p = pos % line.length
        const mutated = `${line.slice(0, p)},${JSON.stringify(key)}:${JSON.stringify(value)}${line.slice(p)}`
        const head = await read([mutated], 'head')
        const full = await read([mutated], 'full')
        if (full.records.length === 1) {
          expect(head.records.length).toBe(1)
          expectSameEvent(head.records[0]!, full.records[0]!)
        }
      }),
      { numRuns: 400 },
    )
  })

  it('mutated real lines between good ones: no throw, no lost neighbour, head equals full where the line parses', async () => {
    const mutation = fc.record({ pos: fc.nat(), del: fc.nat({ max: 8 }), insert: fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('"', '\\', '{', '}', '[', ']', ',', ':', '\n', '\r\n', '\u00e9', '\u2603')) })
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...WITH_BODIES.slice(0, 40)), mutation), { minLength: 1, maxLength: 4 }), async (picks) => {
        const lines: string[] = []
        for (const [i, [line, m]] of picks.entries()) {
          const p = m.pos % line.length
          lines.push(GOOD[i]!, (line.slice(0, p) + m.insert + line.slice(p + m.del)).replace(/[\r\n]/g, ' '))
        }
        lines.push(GOOD[picks.length]!)
        const head = await read(lines, 'head')
        const full = await read(lines, 'full')
        for (const r of [head, full]) {
          const ids = new Set(r.records.map((x) => x.event.auditID))
          for (let i = 0; i <= picks.length; i++) expect(ids).toContain((JSON.parse(GOOD[i]!) as { auditID: string }).auditID)
          expect(r.records.length + r.malformed.length).toBe(lines.length)
        }
        for (const f of full.records) {
          const h = head.records.find((x) => x.line === f.line)
          expect(h).toBeDefined()
          expectSameEvent(h!, f)
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('head mode with duplicate keys', () => {
  // found by the property above: JSON.parse keeps the last of duplicate keys, so a skipped field
  // that also appears earlier must send the line to a full parse
  it.each(['annotations', 'requestObject', 'responseObject'])('an earlier duplicate "%s" gives the same event as a full parse', async (key) => {
    const line = WITH_BODIES[0]!.replace('{"kind":"Event"', `{"kind":"Event","${key}":0`)
    const head = await read([line], 'head')
    const full = await read([line], 'full')
    expect(full.records).toHaveLength(1)
    expect(head.records).toHaveLength(1)
    expectSameEvent(head.records[0]!, full.records[0]!)
  })
})
