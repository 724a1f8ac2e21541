/**
 * @module Simulation of a large plain log on every core: the file is cut into line-aligned byte
 * ranges, each replayed by a worker thread, and the tallies are merged. Parsing dominates the
 * cost of a replay and is embarrassingly parallel; merging is a few Map additions.
 *
 * Used only where it pays: plain NDJSON files above `parallelThreshold()` bytes, and only when
 * the compiled worker exists (the built CLI; tests of the TypeScript sources run in-process).
 */
import { existsSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Level } from '../model/index.js'
import type { MalformedLine } from '../ingest/index.js'
import { mergeSimulationStates, newSimulationState, type SimulationState } from './simulate.js'
import type { SimulateWorkerInput, SimulateWorkerOutput } from './simulate-worker.js'
import type { LoadedPolicy } from './types.js'

const WORKER = new URL('./simulate-worker.js', import.meta.url)

/** The log reader, loaded when a simulation runs: the other policy commands (`policy check`) start without it. */
const reader = () => import('../ingest/index.js')

/** Files smaller than this are replayed in-process (worker start-up is ~50 ms each). */
export function parallelThreshold(): number {
  const env = process.env['KUBETRAIL_PARALLEL_MIN_BYTES']
  return env !== undefined && /^\d+$/.test(env) ? Number(env) : 64 << 20
}

export async function canSimulateInParallel(file: string): Promise<boolean> {
  if (file === '-' || availableParallelism() < 2 || !existsSync(fileURLToPath(WORKER))) return false
  try {
    if (statSync(file).size < parallelThreshold()) return false
    const { isSplittable } = await reader()
    return await isSplittable(file)
  } catch {
    return false
  }
}

function runWorker(input: SimulateWorkerInput): Promise<SimulateWorkerOutput> {
  return new Promise((resolve, reject) => {
    // No flags: the main script's (-e, --input-type) would stop the worker from starting, and so
    // would V8's (--max-old-space-size), which apply to every thread anyway.
    const worker = new Worker(WORKER, { workerData: input, execArgv: [] })
    worker.once('message', (msg: { ok: true; out: SimulateWorkerOutput } | { ok: false; message: string }) => {
      if (msg.ok) resolve(msg.out)
      else reject(new Error(msg.message))
      void worker.terminate()
    })
    worker.once('error', reject)
  })
}

/** Replays one plain log on every core; malformed lines are reported with file-wide line numbers. */
export async function simulateInParallel(
  file: string,
  loaded: LoadedPolicy,
  ruleLevels: Level[],
  onMalformed: (m: MalformedLine) => void,
): Promise<SimulationState> {
  const { splitIntoLineRanges } = await reader()
  const ranges = await splitIntoLineRanges(file, Math.min(availableParallelism(), 8))
  const outputs = await Promise.all(
    ranges.map((range) => runWorker({ policy: loaded.policy, version: loaded.kubernetesVersion, ruleLevels, file, range })),
  )
  const state = newSimulationState()
  let linesBefore = 0
  for (const out of outputs) {
    mergeSimulationStates(state, out.state)
    for (const m of out.malformed) onMalformed({ ...m, line: m.line + linesBefore })
    linesBefore += out.lines
  }
  return state
}
