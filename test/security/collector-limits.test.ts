/**
 * Issue 14, HIGH: the collector's memory under a flood and a hostile body, measured from outside
 * the process (/proc/<pid>/status) on a real `kubetrail serve` run with the deployed heap flags.
 *
 * - Unauthenticated chunked POSTs (no Content-Length) used to be read whole before the 401: 100
 *   of them took the collector from 154 MB to 2.1 GB. Now the credentials are checked before the
 *   body is read and the connection is closed.
 * - Authenticated chunked POSTs count against the in-flight budget as they stream (they counted
 *   as 0 bytes).
 * - An EventList of 1,000,000 `{}` items (3 MB) killed serve (heap out of memory). Now a body
 *   holds at most --max-batch-items events (413 beyond), and one of a million bad items under a
 *   raised limit costs constant memory per item (the first 20 reasons, then a count).
 *
 * Loopback only, a bounded number of connections and seconds.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../support/fixtures.js'
import { freePort } from '../support/net.js'
import { memoryOf, startServe, type ServeProcess } from '../support/serve-process.js'
import { post } from '../../src/core/http.js'

const TOKEN = 'Vt3kP8sW1qZ6xN4bR9mC2jL7hF5dG0aE-limits'
const BATCH = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/webhook/req-00001.body')), 'utf8')
const MB = 1024 * 1024

/**
 * `connections` senders, each posting a chunked body of 256 KiB chunks as fast as the collector
 * takes them, reconnecting when closed, until `minBytes` were sent (at least `minMs`, at most
 * `maxMs`). Samples the collector's RSS meanwhile. Returns the bytes sent, the reply status
 * lines seen, and the highest RSS.
 */
async function flood(port: number, pid: number, options: { connections: number; token?: string; minBytes: number; minMs: number; maxMs: number }) {
  const frame = (() => {
    const chunk = Buffer.alloc(256 * 1024, 'x')
    return Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])
  })()
  const started = Date.now()
  let sent = 0
  const statuses: Record<string, number> = {}
  let peak = memoryOf(pid).rss
  const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(pid).rss)), 50)
  const done = () => Date.now() - started > options.maxMs || (Date.now() - started > options.minMs && sent >= options.minBytes)
  const sender = async () => {
    while (!done()) {
      await new Promise<void>((closed) => {
        const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
        socket.on('error', () => {})
        let reply = ''
        socket.on('data', (d: Buffer) => (reply += d.toString('latin1')))
        socket.on('close', () => {
          const status = /^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 'closed before a reply'
          statuses[status] = (statuses[status] ?? 0) + 1
          closed()
        })
        socket.once('secureConnect', () => {
          const auth = options.token ? `Authorization: Bearer ${options.token}\r\n` : ''
          socket.write(`POST /v1/clusters/flood/events HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`)
          const pump = () => {
            while (!socket.destroyed && !done()) {
              sent += frame.length
              if (!socket.write(frame)) return void socket.once('drain', pump)
            }
            socket.destroy()
          }
          pump()
        })
      })
    }
  }
  await Promise.all(Array.from({ length: options.connections }, sender))
  clearInterval(sampler)
  peak = Math.max(peak, memoryOf(pid).rss)
  return { sent, statuses, peak }
}

/** One data directory for both servers below: its certificates are made once (seconds on a busy machine). */
const dir = mkdtempSync(join(tmpdir(), 'kubetrail-limits-'))
writeFileSync(join(dir, 'tokens'), `${TOKEN} ingest\n`, { mode: 0o600 })

describe('kubetrail serve under a flood and hostile bodies (deployed heap flags, memory from /proc)', () => {
  let serve: ServeProcess
  let port: number
  let url: string

  beforeAll(async () => {
    port = await freePort()
    url = `https://127.0.0.1:${port}`
    serve = await startServe(['--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'data'), '--token-file', join(dir, 'tokens')], `${url}/livez`)
  })

  afterAll(async () => {
    await serve.stop()
  })

  const pid = () => serve.child.pid!
  const alive = async () => {
    expect(serve.child.exitCode, serve.output()).toBeNull()
    const r = await post(new URL(`${url}/v1/clusters/limits/events`), BATCH, { token: TOKEN, rejectUnauthorized: false })
    expect(r.status, r.body).toBe(200)
  }

  it('100 unauthenticated chunked senders: the collector stays within 32 MB of where it was, and answers 401', async () => {
    const before = memoryOf(pid()).rss
    const r = await flood(port, pid(), { connections: 100, minBytes: 150 * MB, minMs: 2_000, maxMs: 5_000 })
    // the flood must have been big enough to matter: twice the bound (bodies were buffered whole: 150 MB up in 3 s)
    expect(r.sent).toBeGreaterThan(64 * MB)
    expect(r.peak - before, `RSS ${(before / MB).toFixed(0)} -> ${(r.peak / MB).toFixed(0)} MB, ${(r.sent / MB).toFixed(0)} MB sent, replies ${JSON.stringify(r.statuses)}`).toBeLessThan(32 * MB)
    expect(Object.keys(r.statuses).filter((s) => s !== '401' && s !== 'closed before a reply')).toEqual([])
    await alive()
  })

  it('30 authenticated chunked senders: bodies in flight count as they stream, the rest get 429; memory stays bounded', async () => {
    const before = memoryOf(pid()).rss
    const r = await flood(port, pid(), { connections: 30, token: TOKEN, minBytes: 200 * MB, minMs: 2_000, maxMs: 6_000 })
    expect(r.sent).toBeGreaterThan(150 * MB)
    // one body alone may reach --max-body (32 MiB, then 413); the others share the in-flight budget (~18 MB under these flags)
    expect(r.peak - before, `RSS ${(before / MB).toFixed(0)} -> ${(r.peak / MB).toFixed(0)} MB, ${(r.sent / MB).toFixed(0)} MB sent, replies ${JSON.stringify(r.statuses)}`).toBeLessThan(120 * MB)
    expect(r.statuses['429'] ?? 0).toBeGreaterThan(0)
    await alive()
  })

  it('an EventList of 1,000,000 `{}` items (3 MB) is refused with 413 before any item is parsed; serve lives on', async () => {
    const body = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${Array(1_000_000).fill('{}').join(',')}]}`
    const r = await post(new URL(`${url}/v1/clusters/limits/events`), body, { token: TOKEN, rejectUnauthorized: false })
    expect(r.status).toBe(413)
    expect(JSON.parse(r.body)).toMatchObject({ error: 'too many events', message: 'more than 5000 events in one request body' })
    await alive()
  })
})

describe('kubetrail serve with --max-batch-items raised: bad items cost constant memory each', () => {
  it('answers 300,000 bad items with 400, the first 20 reasons and the count, within 64 MB', async () => {
    const port = await freePort()
    const url = `https://127.0.0.1:${port}`
    const serve = await startServe(['--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'data'), '--token-file', join(dir, 'tokens'), '--max-batch-items', '2000000'], `${url}/livez`)
    try {
      const body = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${Array(300_000).fill('{}').join(',')}]}`
      const before = memoryOf(serve.child.pid!).rss
      let peak = before
      const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(serve.child.pid!).rss)), 50)
      const r = await post(new URL(`${url}/v1/clusters/limits/events`), body, { token: TOKEN, rejectUnauthorized: false }, 60_000)
      clearInterval(sampler)
      expect(r.status).toBe(400)
      const reply = JSON.parse(r.body) as { rejected: unknown[]; rejectedCount: number }
      expect(reply.rejected).toHaveLength(20)
      expect(reply.rejectedCount).toBe(300_000)
      expect(peak - before).toBeLessThan(64 * MB)
      expect(serve.child.exitCode, serve.output()).toBeNull()
      expect((await post(new URL(`${url}/v1/clusters/limits/events`), BATCH, { token: TOKEN, rejectUnauthorized: false })).status).toBe(200)
    } finally {
      await serve.stop()
    }
  })
})
