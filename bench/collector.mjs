// The collector under load: `kubetrail serve` (its own process, HTTPS with the generated client
// certificate) receives 400-event EventList batches from 4 concurrent senders, as fast as it
// acknowledges them. Reports acknowledged events/s, reply latency p50/p99, the collector's peak
// RSS, the time until everything acknowledged is in the store, and next to it the rate of a plain
// JSON.parse of the same bodies (same run).
import { spawn } from 'node:child_process'
import { createReadStream, mkdtempSync, readFileSync } from 'node:fs'
import { Agent, request } from 'node:https'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cli = resolve(root, 'dist/cli/main.js')

async function bodiesFrom(file, events, batch = 400) {
  const lines = []
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
  for await (const line of rl) {
    if (line) lines.push(line.replace(/^\{"kind":"Event","apiVersion":"audit\.k8s\.io\/v1",/, '{'))
    if (lines.length >= events) break
  }
  rl.close()
  const bodies = []
  for (let i = 0; i < lines.length; i += batch) bodies.push(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${lines.slice(i, i + batch).join(',')}]}\n`)
  return { bodies, events: lines.length }
}

const freePort = () => new Promise((done) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port
    s.close(() => done(p))
  })
})

function peakRssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024)
}

/** The heap flags the systemd unit, the image and `npm start` run the collector with. */
export const DEPLOYED_NODE_OPTIONS = /NODE_OPTIONS=([^"\n]+)/.exec(readFileSync(resolve(root, 'deploy/systemd/kubetrail.service'), 'utf8'))[1]

export async function benchCollector(file, { events = 200_000, serveArgs = [], label = 'collector', nodeOptions } = {}) {
  const { bodies, events: total } = await bodiesFrom(file, events)
  const bytes = bodies.reduce((n, b) => n + b.length, 0)
  // baseline: JSON.parse of the same bodies
  let t0 = performance.now()
  let parsed = 0
  for (const b of bodies) parsed += JSON.parse(b).items.length
  const parseSeconds = (performance.now() - t0) / 1000

  const dataDir = join(mkdtempSync(join(tmpdir(), 'kubetrail-bench-serve-')), 'data')
  const port = await freePort()
  const nodeArgs = (process.env.KUBETRAIL_BENCH_SERVE_NODE_ARGS ?? nodeOptions ?? DEPLOYED_NODE_OPTIONS).split(' ').filter(Boolean)
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--no-alert-log', ...serveArgs], { stdio: ['ignore', 'pipe', 'inherit'] })
  let log = ''
  child.stdout.on('data', (c) => {
    if (log.length < 100_000) log += c
  })
  while (!log.includes('collector ready')) {
    if (child.exitCode !== null) throw new Error(`serve exited: ${log}`)
    await new Promise((w) => setTimeout(w, 50))
  }
  const tls = join(dataDir, 'tls')
  const agent = new Agent({ keepAlive: true, maxSockets: 4, ca: readFileSync(join(tls, 'ca.crt')), cert: readFileSync(join(tls, 'apiserver-client.crt')), key: readFileSync(join(tls, 'apiserver-client.key')) })
  const post = (body) => new Promise((done, fail) => {
    const started = performance.now()
    const req = request({ host: '127.0.0.1', port, path: '/v1/clusters/bench/events', method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', () => done({ status: res.statusCode, ms: performance.now() - started }))
    })
    req.on('error', fail)
    req.end(body)
  })
  const latencies = []
  let refused = 0
  let acked = 0
  let next = 0
  t0 = performance.now()
  await Promise.all([0, 1, 2, 3].map(async () => {
    while (next < bodies.length) {
      const i = next++
      for (;;) {
        const r = await post(bodies[i])
        latencies.push(r.ms)
        if (r.status === 200) break
        refused++
        await new Promise((w) => setTimeout(w, 200)) // 429/503: retry as the apiserver would
      }
      acked += 400
    }
  }))
  const sendSeconds = (performance.now() - t0) / 1000
  const rss = peakRssMb(child.pid)
  // until the store holds everything (the sealer commits within seconds)
  child.kill('SIGTERM')
  await new Promise((done) => child.once('exit', done))
  const drainSeconds = (performance.now() - t0) / 1000
  agent.destroy()
  // the end-to-end rate counts only if the store really holds every event
  const { openStore } = await import(pathToFileURL(resolve(root, 'dist/store/index.js')).href)
  const store = await openStore(dataDir)
  const storedCount = await store.count({})
  await store.close()
  if (storedCount !== total) console.log(`WARNING: the store holds ${storedCount} of ${total} events after serve stopped`)
  latencies.sort((a, b) => a - b)
  const q = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))])
  const result = {
    events: total,
    mb: +(bytes / 1e6).toFixed(1),
    eventsPerSec: Math.round(Math.min(acked, total) / sendSeconds),
    p50ms: q(0.5),
    p99ms: q(0.99),
    peakRssMb: rss,
    storedWithinSeconds: +drainSeconds.toFixed(1),
    // end to end: until the last event is in the store, not only in the write-ahead log
    storedEventsPerSec: Math.round(total / drainSeconds),
    storedCount,
    refusedRequests: refused,
    jsonParseEventsPerSec: Math.round(parsed / parseSeconds),
  }
  result.vsJsonParse = +(result.eventsPerSec / result.jsonParseEventsPerSec).toFixed(2)
  console.log(`${label}: ${result.eventsPerSec.toLocaleString()} events/s acknowledged over HTTPS (400-event batches, 4 senders), reply p50 ${result.p50ms} ms, p99 ${result.p99ms} ms, peak RSS ${rss} MB`)
  console.log(`           all ${total.toLocaleString()} events in the store ${result.storedWithinSeconds} s after the first request (${result.storedEventsPerSec.toLocaleString()} events/s end to end; ${refused} requests refused with 429/503 and retried); JSON.parse of the same bodies: ${result.jsonParseEventsPerSec.toLocaleString()} events/s (collector = ${result.vsJsonParse}x)`)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchCollector(process.argv[2], { events: Number(process.argv[3] ?? 200_000), label: 'collector, live detection on (default)' })
  await benchCollector(process.argv[2], { events: Number(process.argv[3] ?? 200_000), serveArgs: ['--no-detect'], label: 'collector, --no-detect' })
}
