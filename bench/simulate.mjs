// `policy simulate` throughput: the real command, run in-process on the benchmark log.
// Reports events/s and MB/s of the summary (head mode: bodies are not parsed) and, on a
// slice, of the NDJSON output mode (full parse + re-serialisation).
import { statSync } from 'node:fs'
import { invoke } from '../dist/cli/program.js'
import { collectOutput } from '../dist/cli/command.js'

const ctx = { stdin: process.stdin, cwd: process.cwd(), isTTY: false }

async function timeSummary(policy, file) {
  const t0 = performance.now()
  const run = await invoke(['policy', 'simulate', policy, file, '-o', 'json'], ctx)
  if (run.error) throw run.error
  const summary = JSON.parse(await collectOutput(run.result))
  return { seconds: (performance.now() - t0) / 1000, events: summary.input.events }
}

export async function benchSimulate(file, policy, rounds = 3) {
  const bytes = statSync(file).size
  const times = []
  let events = 0
  for (let i = 0; i < rounds; i++) {
    const r = await timeSummary(policy, file)
    times.push(r.seconds)
    events = r.events
  }
  times.sort((a, b) => a - b)
  const seconds = times[Math.floor(times.length / 2)]
  const result = { events, bytes, seconds, eventsPerSec: Math.round(events / seconds), mbPerSec: +(bytes / 1e6 / seconds).toFixed(1), rounds: times }
  console.log(`simulate summary: ${result.eventsPerSec.toLocaleString()} events/s, ${result.mbPerSec} MB/s (median of ${rounds}: ${seconds.toFixed(2)} s for ${events} events)`)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, policy] = process.argv.slice(2)
  await benchSimulate(file, policy)
}
