/**
 * @module Worker thread for `simulateInParallel`: replays one line-aligned byte range of a log
 * and sends back its (mergeable) tallies, its malformed lines and its line count.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { Level, Policy } from '../model/index.js'
import { readAuditLog, type MalformedLine, type ByteRange } from '../ingest/index.js'
import { compilePolicy } from './evaluate.js'
import { createSimulation, type SimulationState } from './simulate.js'
import type { KubeVersion } from './types.js'

export interface SimulateWorkerInput {
  policy: Policy
  version: KubeVersion
  ruleLevels: Level[]
  file: string
  range: ByteRange
}

export interface SimulateWorkerOutput {
  state: SimulationState
  malformed: MalformedLine[]
  lines: number
}

async function run(input: SimulateWorkerInput): Promise<SimulateWorkerOutput> {
  const sim = createSimulation(compilePolicy(input.policy, { kubernetesVersion: input.version }), input.ruleLevels)
  const malformed: MalformedLine[] = []
  let lines = 0
  const records = readAuditLog(input.file, { mode: 'head', range: input.range, onMalformed: (m) => malformed.push(m), onEnd: (n) => (lines = n) })
  for await (const batch of records) for (const rec of batch) sim.add(rec)
  return { state: sim.state, malformed, lines }
}

if (parentPort) {
  const port = parentPort
  run(workerData as SimulateWorkerInput).then(
    (out) => port.postMessage({ ok: true, out }),
    (error: unknown) => port.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) }),
  )
}
