// Reading + parsing throughput on the same file, in the same run:
//   baseline: createReadStream (1 MiB chunks) + manual newline split + JSON.parse of every
//             line: the plain loop a competent engineer writes (faster than readline).
//   full:     kubetrail's reader, every event parsed whole and schema-checked.
//   head:     kubetrail's reader as `simulate`/`diff` use it: bodies left unparsed.
// Each variant: { events, bytes, seconds, eventsPerSec, mbPerSec } (medians of interleaved rounds).
// Alone: `npx tsc -p tsconfig.build.json && node bench/read.mjs FILE`.
import { createReadStream, statSync } from 'node:fs'
import { readAuditLog } from '../dist/ingest/index.js'

/** The plain loop every reading figure is compared with. */
export async function plainJsonParseLoop(file) {
  let events = 0
  let carry = ''
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const text = carry + chunk.toString('utf8')
    let start = 0
    let nl
    while ((nl = text.indexOf('\n', start)) >= 0) {
      if (nl > start) {
        JSON.parse(text.slice(start, nl))
        events++
      }
      start = nl + 1
    }
    carry = text.slice(start)
  }
  if (carry.trim()) {
    try {
      JSON.parse(carry)
      events++
    } catch {
      // a partial last line: not an event
    }
  }
  return events
}

async function ours(file, mode) {
  let events = 0
  for await (const batch of readAuditLog(file, { mode })) events += batch.length
  return events
}

async function time(fn) {
  const t0 = performance.now()
  const events = await fn()
  return { events, seconds: (performance.now() - t0) / 1000 }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function benchRead(file, rounds = 3) {
  const bytes = statSync(file).size
  const variants = { baseline: () => plainJsonParseLoop(file), full: () => ours(file, 'full'), head: () => ours(file, 'head') }
  const times = { baseline: [], full: [], head: [] }
  const counts = {}
  for (let r = 0; r < rounds; r++) {
    // interleaved, so machine noise hits every variant alike
    for (const [name, fn] of Object.entries(variants)) {
      const t = await time(fn)
      times[name].push(t.seconds)
      counts[name] = t.events
    }
  }
  if (new Set(Object.values(counts)).size !== 1) throw new Error(`variants read different event counts: ${JSON.stringify(counts)}`)
  const events = counts.baseline
  const result = { events, bytes }
  for (const name of Object.keys(variants)) {
    const s = median(times[name])
    result[name] = { events, bytes, seconds: +s.toFixed(3), eventsPerSec: Math.round(events / s), mbPerSec: +(bytes / 1e6 / s).toFixed(1) }
  }
  result.fullVsBaseline = +(result.baseline.seconds / result.full.seconds).toFixed(2)
  result.headVsBaseline = +(result.baseline.seconds / result.head.seconds).toFixed(2)
  for (const name of Object.keys(variants))
    console.log(`read ${name.padEnd(8)} ${result[name].eventsPerSec.toLocaleString().padStart(9)} events/s  ${String(result[name].mbPerSec).padStart(6)} MB/s  (median ${result[name].seconds} s)`)
  console.log(`read: head mode ${result.headVsBaseline}x, full mode ${result.fullVsBaseline}x the plain JSON.parse loop`)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRead(process.argv[2])
