#!/usr/bin/env node
// `npm run bench`: the project's benchmarks, on a generated ~1 GB audit log (deterministic,
// from scripts/gen-audit.mjs). Figures are medians of interleaved rounds; ratios are
// against baselines measured in the same run. Not part of the test suite.
//
//   KUBETRAIL_BENCH_FILE=path   use this log instead of generating one
//   KUBETRAIL_BENCH_BYTES=N     size of the generated log (default 1e9)
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchRead } from './read.mjs'
import { benchPolicyEval } from './policy-eval.mjs'
import { benchSimulate } from './simulate.mjs'
import { benchMemory } from './memory.mjs'
import { benchStore } from './store.mjs'
import { benchCollector } from './collector.mjs'
import { benchDetect } from './detect.mjs'
import { benchFiles } from './files.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')


function benchFile() {
  if (process.env.KUBETRAIL_BENCH_FILE) return process.env.KUBETRAIL_BENCH_FILE
  const bytes = Number(process.env.KUBETRAIL_BENCH_BYTES ?? 1e9)
  const file = resolve(root, '.tmp', `bench-${bytes}.ndjson`)
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true })
    console.log(`generating ${file} (${bytes} bytes) ...`)
    execFileSync(process.execPath, [resolve(root, 'scripts/gen-audit.mjs'), '--bytes', String(bytes), '--out', file], { stdio: 'inherit' })
  }
  return file
}

const file = benchFile()
console.log(`log: ${file} (${(statSync(file).size / 1e6).toFixed(1)} MB), node ${process.version}\n`)
const results = {}
results.read = await benchRead(file)
results.policyEval = await benchPolicyEval(resolve(root, 'examples/policies/comprehensive.yaml'))
results.simulate = await benchSimulate(file, resolve(root, 'examples/policies/comprehensive.yaml'))
results.memory = await benchMemory(file)
results.store = await benchStore(file)
results.files = await benchFiles(file)
results.collector = await benchCollector(file, { label: 'collector, live detection on (default), heap flags as deployed' })
results.collectorNoDetect = await benchCollector(file, { serveArgs: ['--no-detect'], label: 'collector, --no-detect, heap flags as deployed' })
results.collectorNoHeapFlags = await benchCollector(file, { nodeOptions: '', label: 'collector, live detection on, no heap flags' })
// 200k events fit in the write-ahead log's backlog (512 MB by default) whatever the store's pace.
// Sustained: the whole log (~1 GB) with a 64 MiB backlog, so that after a few seconds the senders
// get 429s whenever the store falls behind: its end-to-end rate is what the collector keeps up.
results.collectorSustained = await benchCollector(file, {
  events: 600_000,
  serveArgs: ['--max-backlog', String(64 * 1024 * 1024)],
  label: 'collector, sustained (the whole log, --max-backlog 64 MiB), live detection, heap flags as deployed',
})
results.collectorSustainedSealThread = await benchCollector(file, {
  events: 600_000,
  serveArgs: ['--max-backlog', String(64 * 1024 * 1024), '--seal-thread'],
  label: 'collector, sustained, --seal-thread (store commits in a thread of their own)',
})
results.detect = await benchDetect(file)
console.log('\n' + JSON.stringify(results, null, 2))
