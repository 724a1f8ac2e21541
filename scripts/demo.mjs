#!/usr/bin/env node
// `npm run demo`: the policy tools on the bundled example data, one command after another,
// each shown with the command line a user would type.
import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cli = resolve(root, 'dist/cli/main.js')
const log = 'examples/logs/full-requestresponse.audit.log.gz'
// a fresh store for the demo, so it can be run again and again
const dataDir = '.tmp/demo-data'
rmSync(resolve(root, dataDir), { recursive: true, force: true })

const steps = [
  ['policy', 'check', 'examples/policies/comprehensive.yaml'],
  ['policy', 'lint', 'examples/policies/comprehensive.yaml'],
  ['policy', 'explain', 'examples/policies/comprehensive.yaml', '--user', 'alice@example.com', '--verb', 'get', '--resource', 'pods/exec', '--namespace', 'production', '--name', 'web-1'],
  ['policy', 'explain', 'examples/policies/comprehensive.yaml', '--requests', 'examples/requests.ndjson'],
  ['policy', 'simulate', 'examples/policies/low-write.yaml', log],
  ['policy', 'diff', 'examples/policies/minimal.yaml', 'examples/policies/comprehensive.yaml', log],
  ['import', log, '--data-dir', dataDir],
  ['who', 'delete', 'deployment/novelapp', '-n', 'production', '--data-dir', dataDir],
  ['query', '--preset', 'privileged-pods', '--data-dir', dataDir],
  ['top', '--by', 'user', '--code', '4xx', '--data-dir', dataDir],
  ['history', 'deployment/webapp', '-n', 'production', '--data-dir', dataDir],
  ['verify', '--data-dir', dataDir],
]

let failed = 0
for (const args of steps) {
  console.log(`\n$ kubetrail ${args.join(' ')}`)
  const run = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: 'inherit' })
  // lint and check exit 1 on findings by design; only crashes (no exit code) count as failures
  if (run.status === null || run.status > 1) failed++
}
process.exitCode = failed > 0 ? 1 : 0
