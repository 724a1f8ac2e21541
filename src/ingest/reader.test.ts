import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { formatMalformed, readAuditLogAll } from './index.js'

const run = (name: string) => requireFixture(resolve(FIXTURES_DIR, 'runs', name))
const tmp = mkdtempSync(join(tmpdir(), 'kubetrail-ingest-'))
let n = 0
function tmpFile(content: string | Buffer): string {
  const f = join(tmp, `f${n++}.log`)
  writeFileSync(f, content)
  return f
}

const GOOD = readFileSync(run('full/audit.log'), 'utf8').split('\n').filter(Boolean)

describe('readAuditLog on real kube-apiserver output', () => {
  it.each([
    ['full/audit.log', 1891],
    ['seed-main/audit.log', 977],
    ['minimal/audit.log', 38],
    ['rotation/audit-2026-11-22T21-06-58.206.log', 933],
    ['truncate/audit.log', 1931],
  ])('reads every event of %s (%i)', async (file, count) => {
    const { records, malformed } = await readAuditLogAll(run(file))
    expect(malformed).toEqual([])
    expect(records.length).toBe(count)
    expect(records[0]!.line).toBe(1)
    expect(records[count - 1]!.line).toBe(count)
  })

  it('reads gzip-compressed rotated backups by their content, not their name', async () => {
    const dir = run('rotation-compress')
    const counts = []
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.gz')).sort()) counts.push((await readAuditLogAll(join(dir, f))).records.length)
    expect(counts).toEqual([929, 1037, 1056])
    const renamed = tmpFile(readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.gz'))!)))
    expect((await readAuditLogAll(renamed)).records.length).toBe(929)
  })

  it('reports the partial last line of a log cut short by a full disk, and keeps the rest', async () => {
    const { records, malformed } = await readAuditLogAll(run('write-errors/log-tmpfs-full-blocking/audit.log'))
    expect(records.length).toBe(276)
    expect(malformed.length).toBe(1)
    expect(malformed[0]!.line).toBe(277)
    expect(malformed[0]!.reason).toMatch(/truncated line \(no newline at end of file/)
  })

  it('reads the webhook backend EventList bodies, plain and gzip', async () => {
    const dir = run('full/webhook')
    const index = readFileSync(join(dir, 'index.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    let total = 0
    for (const f of readdirSync(dir).filter((f) => /^req-\d+\.body(\.gz)?$/.test(f))) {
      const { records, malformed } = await readAuditLogAll(join(dir, f))
      expect(malformed).toEqual([])
      total += records.length
      for (const r of records) expect(r.event.kind).toBeUndefined() // items carry no kind/apiVersion
    }
    expect(index.length).toBe(6)
    expect(total).toBe(1835)
  })

  it('reads the legacy text format into events', async () => {
    const { records, malformed } = await readAuditLogAll(run('legacy-format/audit.log'))
    expect(malformed).toEqual([])
    expect(records.length).toBe(955)
    expect(records.every((r) => r.legacy)).toBe(true)
    const imp = records.find((r) => r.event.impersonatedUser)!
    expect(imp.event.user.username).toBe('admin')
    expect(imp.event.impersonatedUser?.username).toMatch(/alice@example.com|system:serviceaccount:ci:deployer/)
    const failed = records.find((r) => r.event.responseStatus?.code === 401)!
    expect(failed.event.user).toEqual({})
    expect(failed.event.stage).toBe('ResponseStarted')
    const secrets = records.find((r) => r.event.requestURI === '/api/v1/namespaces/production/secrets/db-password')!
    expect(secrets.event.objectRef).toEqual({ resource: 'secrets', namespace: 'production', name: 'db-password', apiVersion: 'v1' })
    expect(secrets.event.requestReceivedTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
  })
})

describe('readAuditLog on awkward input', () => {
  it('reads stdin, plain and gzip', async () => {
    const text = GOOD.slice(0, 5).join('\n') + '\n'
    expect((await readAuditLogAll('-', { stdin: Readable.from([Buffer.from(text)]) })).records.length).toBe(5)
    expect((await readAuditLogAll('-', { stdin: Readable.from([gzipSync(text)]) })).records.length).toBe(5)
    expect((await readAuditLogAll('-', { stdin: Readable.from([]) })).records.length).toBe(0)
  })

  it('keeps the neighbours of malformed lines and names file, line and reason', async () => {
    const f = tmpFile(
      [GOOD[0], '{"kind":"Event", broken', GOOD[1], '', '{"auditID":"x"}', 'hello world', GOOD[2], '{"kind":"Event","level":"Loud","auditID":"a","stage":"ResponseComplete","requestURI":"/","verb":"get","user":{},"requestReceivedTimestamp":"t","stageTimestamp":"t"}'].join('\r\n') + '\r\n',
    )
    const { records, malformed } = await readAuditLogAll(f)
    expect(records.map((r) => r.line)).toEqual([1, 3, 7])
    expect(malformed.map(formatMalformed)).toEqual([
      expect.stringMatching(new RegExp(`^${f}:2: invalid JSON`)),
      `${f}:5: missing field level`,
      expect.stringMatching(new RegExp(`^${f}:6: not an audit event`)),
      expect.stringMatching(new RegExp(`^${f}:8: level: must be one of None, Metadata, Request, RequestResponse \\(got "Loud"\\)`)),
    ])
  })

  it('reads a pretty-printed EventList document and reports a bad item without dropping the others', async () => {
    const items = GOOD.slice(0, 3).map((l) => {
      const { kind: _k, apiVersion: _a, ...rest } = JSON.parse(l) as Record<string, unknown>
      return rest
    })
    items.splice(1, 0, { auditID: 'broken' })
    const f = tmpFile(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items }, null, 2))
    const { records, malformed } = await readAuditLogAll(f)
    expect(records.length).toBe(3)
    expect(malformed).toEqual([{ file: f, line: 1, reason: 'items[1]: missing field level' }])
  })

  it('measures body sizes exactly, also for non-ASCII lines', async () => {
    const ev = JSON.parse(GOOD.find((l) => l.includes('"requestObject"') && l.includes('"responseObject"'))!) as Record<string, unknown>
    ev['requestObject'] = { note: 'grüße, ☃' }
    const line = JSON.stringify(ev)
    const f = tmpFile(line + '\n')
    const [rec] = (await readAuditLogAll(f, { mode: 'head' })).records
    expect(rec!.bytes).toBe(Buffer.byteLength(line))
    expect(rec!.requestObjectBytes).toBe(Buffer.byteLength(`,"requestObject":${JSON.stringify(ev['requestObject'])}`))
    expect(rec!.responseObjectBytes).toBe(Buffer.byteLength(`,"responseObject":${JSON.stringify(ev['responseObject'])}`))
    expect(rec!.isHead).toBe(true)
    expect(rec!.fullEvent()).toEqual(ev)
  })

  it('head mode equals full mode on every real event', async () => {
    const file = run('full/audit.log')
    const head = (await readAuditLogAll(file, { mode: 'head' })).records
    const full = (await readAuditLogAll(file, { mode: 'full' })).records
    expect(head.length).toBe(full.length)
    let cut = 0
    head.forEach((h, i) => {
      const f = full[i]!
      const { requestObject: _q, responseObject: _r, annotations: _a, ...meta } = f.event
      expect(h.event).toEqual(meta)
      expect(h.fullEvent()).toEqual(f.event)
      expect([h.bytes, h.requestObjectBytes, h.responseObjectBytes]).toEqual([f.bytes, f.requestObjectBytes, f.responseObjectBytes])
      if (h.isHead) cut++
    })
    // the fast path is taken for every event that has a body or annotations to skip
    expect(cut).toBe(full.filter((f) => f.event.requestObject !== undefined || f.event.responseObject !== undefined || f.event.annotations !== undefined).length)
    expect(cut).toBeGreaterThan(700)
  })
})

describe('readAuditLog line handling', () => {
  it('reports an over-long line and keeps its neighbours, whichever chunk it ends in', async () => {
    const long = GOOD.find((l) => l.length > 3000)!
    const f = tmpFile([GOOD[0], long, GOOD[1], 'x'.repeat(5000), GOOD[2]].join('\n') + '\n')
    // within one chunk a line costs no extra memory and is read whatever its length ...
    const { records, malformed } = await readAuditLogAll(f, { maxLineBytes: 2048 })
    expect(records.map((r) => r.line)).toEqual([1, 2, 3, 5])
    expect(malformed.map((m) => m.line)).toEqual([4])
    // ... the limit bounds what is carried across chunks
    const chunks = [GOOD[0] + '\n', ...Array.from({ length: 6 }, () => 'y'.repeat(1000)), '\n' + GOOD[1] + '\n']
    const split = await readAuditLogAll('-', { maxLineBytes: 2048, stdin: Readable.from(chunks.map((c) => Buffer.from(c))) })
    expect(split.records.map((r) => r.line)).toEqual([1, 3])
    expect(split.malformed).toEqual([{ file: '<stdin>', line: 2, reason: 'line longer than 2048 bytes: skipped' }])
  })

  it('reads an NDJSON file of EventList bodies, one per line, with the line of each body', async () => {
    const dir = run('full/webhook')
    const first = readFileSync(join(dir, 'req-00001.body'), 'utf8').trim()
    const f = tmpFile(`${first}\n\n${first}\n`)
    const { records, malformed } = await readAuditLogAll(f, { mode: 'head' })
    expect(malformed).toEqual([])
    expect(records.length).toBe(800)
    expect(records[0]!.line).toBe(1)
    expect(records[799]!.line).toBe(3)
  })

  it('a line split across many small chunks, CRLF endings and a last line without newline', async () => {
    const text = `${GOOD[0]}\r\n\r\n${GOOD[1]}\r\n${GOOD[2]}`
    const bytes = Buffer.from(text)
    const chunks = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7))
    const { records, malformed } = await readAuditLogAll('-', { stdin: Readable.from(chunks) })
    expect(malformed).toEqual([])
    expect(records.map((r) => r.line)).toEqual([1, 3, 4])
    expect(records.map((r) => r.bytes)).toEqual([0, 1, 2].map((i) => Buffer.byteLength(GOOD[i]!)))
  })
})

describe('readAuditLog properties', () => {
  it('random bytes between good lines never throw and never cost a good line', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1'))), { maxLength: 6 }), async (junk) => {
        const noise = junk.map((j) => j.replace(/[\r\n]/g, ' '))
        const lines = noise.flatMap((j, i) => [j, GOOD[i]!])
        const { records } = await readAuditLogAll('-', { stdin: Readable.from([Buffer.from(lines.join('\n') + '\n')]) })
        const ids = records.map((r) => r.event.auditID)
        for (let i = 0; i < noise.length; i++) expect(ids).toContain((JSON.parse(GOOD[i]!) as { auditID: string }).auditID)
      }),
      { numRuns: 150 },
    )
  })

  it('a pretty-printed-looking first line that is not a document does not swallow the file', async () => {
    const { records, malformed } = await readAuditLogAll('-', { stdin: Readable.from([Buffer.from(['{', GOOD[0], GOOD[1]].join('\n') + '\n')]) })
    expect(records.length).toBe(2)
    expect(malformed.map((m) => m.line)).toEqual([1])
  })

  it('head mode agrees with a full parse for mutated real lines', async () => {
    const source = GOOD.filter((l) => l.includes('"requestObject"')).slice(0, 40)
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...source), fc.nat(), fc.string({ maxLength: 4 }), async (line, pos, insert) => {
        const p = pos % line.length
        const mutated = line.slice(0, p) + insert.replace(/[\r\n]/g, '') + line.slice(p)
        const head = await readAuditLogAll('-', { mode: 'head', stdin: Readable.from([Buffer.from(mutated + '\n')]) })
        const full = await readAuditLogAll('-', { mode: 'full', stdin: Readable.from([Buffer.from(mutated + '\n')]) })
        if (full.records.length === 1) {
          expect(head.records.length).toBe(1)
          expect(head.records[0]!.fullEvent()).toEqual(full.records[0]!.event)
        } else if (head.records.length === 1) {
          // head mode checks the metadata only; a corrupt body surfaces when the body is read
          expect(() => head.records[0]!.fullEvent()).toThrow()
        } else {
          expect(head.malformed.length).toBe(1)
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('readAuditLog on broken files', () => {
  it('a truncated gzip file keeps the events before the cut and reports where reading stopped', async () => {
    const whole = gzipSync(readFileSync(run('full/audit.log')))
    const f = tmpFile(whole.subarray(0, Math.floor(whole.length / 2)))
    const { records, malformed } = await readAuditLogAll(f)
    expect(records.length).toBeGreaterThan(100)
    expect(records.length).toBeLessThan(1891)
    expect(malformed.map((m) => m.reason).join('\n')).toMatch(/gzip data ends early \(truncated file\)/)
  })

  it('a file that is not an audit log is reported line by line, never thrown', async () => {
    const f = tmpFile('# just some notes\nkey: value\n[1,2,3]\n')
    const { records, malformed } = await readAuditLogAll(f)
    expect(records).toEqual([])
    expect(malformed.map((m) => m.line)).toEqual([1, 2, 3, 3, 3])
    expect(malformed[2]!.reason).toMatch(/^\[0\]: /)
  })
})
