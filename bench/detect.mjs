// Detection throughput: events/s through the whole built-in pack on one core, next to the rate
// of reading (parsing) the same events without detection, in the same run.
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export async function benchDetect(file, { events = 300_000 } = {}) {
  const { builtinRules, Detector } = await import(resolve(root, 'dist/detect/index.js'))
  const lines = []
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
  for await (const line of rl) {
    if (line) lines.push(line)
    if (lines.length >= events) break
  }
  rl.close()
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const parseTimes = []
  const detectTimes = []
  let alerts = 0
  for (let round = 0; round < 3; round++) {
    let t0 = performance.now()
    for (const l of lines) JSON.parse(l)
    parseTimes.push((performance.now() - t0) / 1000)
    const detector = new Detector(builtinRules())
    alerts = 0
    t0 = performance.now()
    for (const l of lines) alerts += detector.evaluate(JSON.parse(l)).length
    detectTimes.push((performance.now() - t0) / 1000)
  }
  const parseRate = Math.round(lines.length / median(parseTimes))
  const detectRate = Math.round(lines.length / median(detectTimes))
  const onlyRules = Math.round(lines.length / (median(detectTimes) - median(parseTimes)))
  console.log(`detect: ${detectRate.toLocaleString()} events/s parsed and run through ${builtinRules().length} built-in rules (one core), against ${parseRate.toLocaleString()} events/s parsed without detection; the rules alone: ${onlyRules.toLocaleString()} events/s; ${alerts} alerts on ${lines.length.toLocaleString()} events`)
  return { events: lines.length, detectEventsPerSec: detectRate, parseEventsPerSec: parseRate, rulesOnlyEventsPerSec: onlyRules, alerts }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDetect(process.argv[2])
