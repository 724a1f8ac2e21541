import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { rawEvents, runStoreSuite } from '../store.suite.js'
import type { MalformedLine } from '../../ingest/index.js'
import { Redactor, REDACTED_PREFIX } from '../../ingest/index.js'
import { LogFileStore } from './file-store.js'
import { lineFilter } from './log-scan.js'
import type { StoredEvent } from '../types.js'

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

const tmp = () => mkdtempSync(join(tmpdir(), 'kubetrail-files-'))

// the store's questions, asked of the same events written as log files (the second file gzip)
runStoreSuite('log files read where they lie', {
  readOnly: true,
  async load(files, dir) {
    const paths = files.map((events, i) => {
      const text = events.map((e) => e.json).join('\n') + '\n'
      const path = join(dir, `audit-${i}.log${i % 2 === 1 ? '.gz' : ''}`)
      writeFileSync(path, i % 2 === 1 ? gzipSync(text) : text)
      return path
    })
    return LogFileStore.open(paths)
  },
})

describe('log files read where they lie', () => {
  it('reports malformed lines as import does (file:line: reason), and answers from their neighbours', async () => {
    const dir = tmp()
    const events = rawEvents().slice(0, 50).map((e) => e.json)
    const lines = [...events.slice(0, 10), '{"oops": ', '', '{"kind":"Event","level":"Metadata"}', ...events.slice(10), '{"auditID":"x"']
    const path = join(dir, 'audit.log')
    writeFileSync(path, lines.join('\n'))
    const malformed: MalformedLine[] = []
    const store = await LogFileStore.open([path], { onMalformed: (m) => malformed.push(m) })
    expect(await store.count({})).toBe(50)
    expect(malformed.map((m) => `${m.line}: ${m.reason.split(':')[0]}`)).toEqual(['11: invalid JSON', '13: missing field auditID', '54: truncated line (no newline at end of file)'])
    expect(malformed.every((m) => m.file === path)).toBe(true)
    // asked again: reported once
    await store.count({ verbs: ['get'] })
    expect(malformed).toHaveLength(3)
    await store.close()
  })

  it('reads files in other formats (EventList bodies, a file of them mixed with events) with the log reader', async () => {
    const dir = tmp()
    const events = rawEvents().slice(0, 40).map((e) => JSON.parse(e.json) as Record<string, unknown>)
    const list = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: events.slice(0, 20).map(({ kind: _k, apiVersion: _a, ...rest }) => rest) })
    const webhook = join(dir, 'webhook.log')
    writeFileSync(webhook, list + '\n')
    // events first (so the file looks like NDJSON), then an EventList line
    const mixed = join(dir, 'mixed.log')
    writeFileSync(mixed, [...events.slice(20, 30).map((e) => JSON.stringify(e)), JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: events.slice(30).map(({ kind: _k, apiVersion: _a, ...rest }) => rest) })].join('\n') + '\n')
    const store = await LogFileStore.open([webhook, mixed])
    expect(await store.count({})).toBe(40)
    await store.close()
  })

  it('never answers from unreadable input as if it were empty: a line DuckDB cannot read goes to the log reader', async () => {
    const dir = tmp()
    const events = rawEvents().slice(0, 5).map((e) => e.json)
    const huge = JSON.stringify({ ...JSON.parse(events[0]!), auditID: 'huge', requestObject: { blob: 'x'.repeat(20 << 20) } })
    const path = join(dir, 'audit.log')
    writeFileSync(path, [...events, huge].join('\n') + '\n')
    const store = await LogFileStore.open([path])
    expect(await store.count({})).toBe(6)
    await store.close()
  })

  it('shows Secret values redacted as import stores them, in query results and in sql', async () => {
    const dir = tmp()
    const secret = { kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: 's1', stage: 'ResponseComplete', requestURI: '/api/v1/namespaces/a/secrets', verb: 'create',
      user: { username: 'alice' }, objectRef: { resource: 'secrets', namespace: 'a', name: 'db', apiVersion: 'v1' }, responseStatus: { code: 201 },
      requestObject: { kind: 'Secret', data: { password: 'aHVudGVyMg==' } }, requestReceivedTimestamp: '2024-06-01T00:00:00.000001Z', stageTimestamp: '2024-06-01T00:00:00.000002Z' }
    const path = join(dir, 'audit.log')
    writeFileSync(path, JSON.stringify(secret) + '\n' + rawEvents()[0]!.json + '\n')
    const redactor = new Redactor(Buffer.alloc(32, 7))
    const store = await LogFileStore.open([path], { redactor })
    const [shown] = await collect<StoredEvent>(store.query({ resources: [{ resource: 'secrets' }] }))
    expect(shown!.raw).not.toContain('aHVudGVyMg==')
    expect(shown!.raw).toContain(REDACTED_PREFIX)
    expect(shown!.raw).toBe(redactor.redactText(JSON.stringify(secret)).text)
    const { rows } = await store.sql("SELECT event FROM events WHERE resource = 'secrets'")
    expect(rows).toEqual([[shown!.raw]])
    await store.close()
    const plain = await LogFileStore.open([path])
    expect((await collect<StoredEvent>(plain.query({ resources: [{ resource: 'secrets' }] })))[0]!.raw).toContain('aHVudGVyMg==')
    await plain.close()
  })

  it('finds failed authentications however their 401 is spelled, without parsing the other lines', async () => {
    const dir = tmp()
    const events = rawEvents().map((e) => e.json)
    const denied = events.filter((l) => l.includes('"code":401'))
    expect(denied.length).toBeGreaterThan(0)
    // the same events, their code spelled as JSON also allows (and DuckDB reads as 401)
    const respelled = denied.map((l, i) => l.replace('"code":401', `"code":${['4.01e2', '401.0', '40100e-2', '4.01E+2'][i % 4]}`).replace(/"auditID":"/, '"auditID":"x'))
    const path = join(dir, 'audit.log')
    writeFileSync(path, [...events, ...respelled].join('\n') + '\n')
    const store = await LogFileStore.open([path])
    const plain = await LogFileStore.open([join(dir, 'plain.log')].map((p) => (writeFileSync(p, events.join('\n') + '\n'), p)))
    expect(await store.count({ authFailed: true })).toBe((await plain.count({ authFailed: true })) + respelled.length)
    expect(lineFilter({ authFailed: true })).toContain("contains(line, '401')")
    await store.close()
    await plain.close()
  })

  it('looks in the raw line only for text every matching line holds', () => {
    expect(lineFilter({})).toBeUndefined()
    expect(lineFilter({ verbs: ['delete'], namespace: 'a/b' })).toBe(`((contains(line, '"delete"') OR contains(line, '\\u'))) AND ((contains(line, '"a/b"') OR contains(line, '\\u') OR contains(line, '\\/')))`)
    // an empty value is also what an absent field reads as: nothing to look for
    expect(lineFilter({ namespace: '' })).toBeUndefined()
    expect(lineFilter({ resources: [{ resource: '*', apiGroup: 'rbac.authorization.k8s.io' }, { resource: 'secrets', apiGroup: '' }] })).toContain('"secrets"')
    expect(lineFilter({ anyOf: [{ verbs: ['get'] }, {}] })).toBeUndefined()
  })
})
