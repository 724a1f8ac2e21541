/**
 * The webhook endpoint over real TLS with real client certificates (made by the collector's own
 * CA code), as the apiserver's webhook backend would call it.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { connect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { post } from '../core/http.js'
import { openStore } from '../store/index.js'
import { issueClientCertificate, startCollector, tlsPaths, type RunningCollector } from './index.js'

/** A token strong enough to be accepted (the collector refuses weak ones). */
const TOKEN = 'kQ7vN2pX9rT4wY6zA1cE3gJ5lM8oS0uB-ingest'
const BODY = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/webhook/req-00001.body')), 'utf8')

function dataDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'kubetrail-serve-')), 'data')
}

describe('kubetrail serve: the webhook endpoint', () => {
  let running: RunningCollector
  let dir: string
  let url: URL
  let creds: { ca: string; cert: string; key: string }
  const logs: string[] = []

  beforeAll(async () => {
    dir = dataDir()
    running = await startCollector({ dataDir: dir, listen: { host: '127.0.0.1', port: 0 }, defaultCluster: 'default', tokens: [{ token: TOKEN, role: 'ingest' }], bodyLimitBytes: 8 * 1024 * 1024, log: (l) => logs.push(l) })
    url = new URL(`${running.url}/v1/clusters/test/events`)
    const p = tlsPaths(dir)
    creds = { ca: readFileSync(p.caCert, 'utf8'), cert: readFileSync(p.clientCert, 'utf8'), key: readFileSync(p.clientKey, 'utf8') }
  })

  afterAll(async () => {
    await running.stop()
  })

  it('accepts the real apiserver batch with the generated client certificate and stores it', async () => {
    const r = await post(url, BODY, creds)
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body)).toMatchObject({ accepted: 400, rejectedCount: 0 })
    await running.collector.flush()
    const store = await openStore(dir)
    expect(await store.count({ clusters: ['test'] })).toBe(400)
    await store.close()
  })

  it('accepts a bearer token, refuses a wrong token and no credentials', async () => {
    expect((await post(url, BODY, { ca: creds.ca, token: TOKEN })).status).toBe(200)
    expect((await post(url, BODY, { ca: creds.ca, token: `${TOKEN}x` })).status).toBe(401)
    expect((await post(url, BODY, { ca: creds.ca })).status).toBe(401)
  })

  it('refuses a client certificate from another CA', async () => {
    const other = dataDir()
    const foreign = await startCollector({ dataDir: other, listen: { host: '127.0.0.1', port: 0 }, defaultCluster: 'x' })
    const p = tlsPaths(other)
    await foreign.stop()
    const r = await post(url, BODY, { ca: creds.ca, cert: readFileSync(p.clientCert, 'utf8'), key: readFileSync(p.clientKey, 'utf8') })
    expect(r.status).toBe(401)
  })

  it('answers bad bodies with a clear 4xx and keeps serving', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['{"kind":"EventList","items":[{"broken"', 400, /not JSON/],
      ['{"kind":"Pod","apiVersion":"v1"}', 400, /not an audit Event/],
      ['{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"x"}]}', 400, /missing field/],
      ['x'.repeat(9 * 1024 * 1024), 413, /body/i],
    ]
    for (const [body, status, message] of cases) {
      const r = await post(url, body, creds)
      expect(r.status, body.slice(0, 40)).toBe(status)
      expect(r.body).toMatch(message)
    }
    const bad = await post(new URL(`${running.url}/v1/clusters/bad name!/events`), BODY, creds)
    expect(bad.status).toBe(400)
    expect((await post(url, BODY, creds)).status).toBe(200)
  })

  it('property: fuzzed bodies get 200 or 400, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 2000 }), fc.json(), fc.constant(BODY.slice(0, 1000))), async (body) => {
        const r = await post(url, body, creds)
        expect([200, 400]).toContain(r.status)
      }),
      { numRuns: 60 },
    )
    expect((await post(url, BODY, creds)).status).toBe(200)
  })

  it('a slow client does not hold up others', async () => {
    const slow = connect({ host: '127.0.0.1', port: Number(url.port), ca: creds.ca, cert: creds.cert, key: creds.key, servername: 'localhost' })
    await new Promise((ok) => slow.once('secureConnect', ok))
    slow.write(`POST ${url.pathname} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY.slice(0, 100)}`)
    const t0 = Date.now()
    expect((await post(url, BODY, creds)).status).toBe(200)
    expect(Date.now() - t0).toBeLessThan(5000)
    slow.destroy()
  })

  it('serves /livez and /readyz openly and /metrics only with a metrics credential', async () => {
    const metricsCert = issueClientCertificate(dir, 'prometheus', ['kubetrail:metrics'])
    const get = async (path: string, withCert: boolean | { cert: string; key: string }) => {
      const { request } = await import('node:https')
      const cert = withCert === true ? { cert: creds.cert, key: creds.key } : withCert || {}
      return new Promise<{ status: number; body: string }>((done, fail) => {
        const req = request(new URL(path, running.url), { ca: creds.ca, ...cert }, (res) => {
          let body = ''
          res.on('data', (c: Buffer) => (body += c.toString()))
          res.on('end', () => done({ status: res.statusCode ?? 0, body }))
        })
        req.on('error', fail)
        req.end()
      })
    }
    expect((await get('/livez', false)).status).toBe(200)
    expect((await get('/readyz', false)).status).toBe(200)
    expect((await get('/metrics', false)).status).toBe(401)
    // the apiserver's certificate may ingest, not scrape
    expect((await get('/metrics', true)).status).toBe(403)
    const metrics = await get('/metrics', metricsCert)
    expect(metrics.status).toBe(200)
    expect(metrics.body).toMatch(/kubetrail_events_received_total\{cluster="test",source="webhook"\} \d+/)
    expect(metrics.body).toMatch(/kubetrail_events_rejected_total\{cluster="test",source="webhook"\} [1-9]/)
    expect(metrics.body).toMatch(/kubetrail_webhook_requests_total\{cluster="test",code="401"\} [1-9]/)
  })
})

describe('kubetrail serve: configuration', () => {
  it('refuses to listen without authentication unless --insecure', async () => {
    const dir = dataDir()
    await expect(startCollector({ dataDir: dir, listen: { host: '127.0.0.1', port: 0 }, defaultCluster: 'd', plainHttp: true })).rejects.toMatchObject({ code: 'KT_NO_AUTH' })
    const open = await startCollector({ dataDir: dir, listen: { host: '127.0.0.1', port: 0 }, defaultCluster: 'd', insecure: true, plainHttp: true })
    expect(open.url).toMatch(/^http:\/\//)
    expect((await post(new URL(`${open.url}/v1/events`), BODY, {})).status).toBe(200)
    await open.stop()
  })

  it('refuses new bodies with 429 while too many bytes are in flight (memory stays bounded)', async () => {
    const running = await startCollector({ dataDir: dataDir(), listen: { host: '127.0.0.1', port: 0 }, defaultCluster: 'd', insecure: true, plainHttp: true, maxInFlightBytes: BODY.length + 1000 })
    const { connect: connectPlain } = await import('node:net')
    const port = Number(new URL(running.url).port)
    const slow = connectPlain(port, '127.0.0.1')
    await new Promise((ok) => slow.once('connect', ok))
    // a sender that announced a whole batch and is still sending it
    slow.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY.slice(0, 10)}`)
    await new Promise((w) => setTimeout(w, 200))
    const refused = await post(new URL(`${running.url}/v1/events`), BODY, {})
    expect(refused.status).toBe(429)
    expect(refused.retryAfter).toBe('1')
    slow.destroy()
    await new Promise((w) => setTimeout(w, 200))
    expect((await post(new URL(`${running.url}/v1/events`), BODY, {})).status).toBe(200)
    await running.stop()
  })

  it('answers 429 with Retry-After when too much is waiting for the store, and recovers', async () => {
    const dir = dataDir()
    let failing = true
    const running = await startCollector({
      dataDir: dir,
      listen: { host: '127.0.0.1', port: 0 },
      defaultCluster: 'd',
      insecure: true,
      plainHttp: true,
      maxPendingBytes: 600_000,
      sealIntervalMs: 50,
      beforeStoreCommit: () => {
        if (failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      },
    })
    const target = new URL(`${running.url}/v1/events`)
    const codes: number[] = []
    let retryAfter: string | undefined
    for (let i = 0; i < 4; i++) {
      const r = await post(target, BODY, {})
      codes.push(r.status)
      retryAfter ??= r.retryAfter
      await new Promise((w) => setTimeout(w, 120))
    }
    expect(codes[0]).toBe(200)
    expect(codes.some((c) => c === 503 || c === 429)).toBe(true)
    expect(Number(retryAfter)).toBeGreaterThan(0)
    expect(running.collector.ready).toBe(false)
    // refused before the body is read: not even parsed (this one is not JSON), so a backlog costs no CPU
    const early = await post(target, 'not json at all', {})
    expect([429, 503]).toContain(early.status)
    expect(early.retryAfter).toBe('5')
    expect((await running.collector.metrics.registry.getSingleMetricAsString('kubetrail_store_write_errors_total'))).toMatch(/stage="store"\} [1-9]/)
    failing = false
    await running.collector.flush()
    expect(running.collector.ready).toBe(true)
    expect((await post(target, BODY, {})).status).toBe(200)
    await running.stop()
    const store = await openStore(dir)
    // every acknowledged batch is there exactly once (the same 400 events, sent several times)
    expect(await store.count({})).toBe(400)
    expect((await store.verify()).ok).toBe(true)
    await store.close()
  })
})
