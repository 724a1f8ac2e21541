// Policy decisions per second on a realistic request mix, the comprehensive preset.
// The mix is the attributes of every event of a real kube-apiserver log (examples/), so rule
// positions and early exits are those of real traffic.
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { attributesFromEvent, compilePolicy, loadPolicyFile } from '../dist/policy/index.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export async function benchPolicyEval(policyFile, seconds = 3) {
  const loaded = await loadPolicyFile(policyFile)
  const evaluator = compilePolicy(loaded.policy, { kubernetesVersion: loaded.kubernetesVersion })
  const log = gunzipSync(readFileSync(resolve(root, 'examples/logs/full-requestresponse.audit.log.gz'))).toString('utf8')
  const requests = log.split('\n').filter(Boolean).map((l) => attributesFromEvent(JSON.parse(l)))
  let decisions = 0
  let sink = 0
  // warm up, then run for a fixed time
  for (let i = 0; i < 200_000; i++) sink += evaluator.evaluate(requests[i % requests.length]).ruleIndex ?? 0
  const t0 = performance.now()
  const deadline = t0 + seconds * 1000
  while (performance.now() < deadline) {
    for (let i = 0; i < requests.length; i++) sink += evaluator.evaluate(requests[i]).ruleIndex ?? 0
    decisions += requests.length
  }
  const elapsed = (performance.now() - t0) / 1000
  const result = { decisions, seconds: +elapsed.toFixed(2), decisionsPerSecond: Math.round(decisions / elapsed), distinctRequests: requests.length, sink }
  console.log(`policy evaluation: ${result.decisionsPerSecond.toLocaleString()} decisions/s (${requests.length} real requests, ${loaded.rules.length}-rule policy)`)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPolicyEval(process.argv[2] ?? resolve(root, 'examples/policies/comprehensive.yaml'))
