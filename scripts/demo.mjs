#!/usr/bin/env node
// `npm run demo`: the collector and the tools on the bundled example data, one command after
// another, each shown with the command line a user would type: start `kubetrail serve`, replay a
// real apiserver's log into it as the webhook backend would, ask the questions, stop it.
import { spawn, spawnSync } from 'node:child_process'
import { connect, createServer } from 'node:net'
import { rmSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cli = resolve(root, 'dist/cli/main.js')
const log = 'examples/logs/full-requestresponse.audit.log.gz'
// a fresh store for the demo, so it can be run again and again
const dataDir = '.tmp/demo-data'
rmSync(resolve(root, dataDir), { recursive: true, force: true })

const port = await new Promise((done) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port
    s.close(() => done(p))
  })
})
const url = `https://127.0.0.1:${port}/v1/clusters/demo/events`
console.log(`$ kubetrail serve --listen 127.0.0.1:${port} --data-dir ${dataDir} --no-alert-log &`)
const server = spawn(process.execPath, [cli, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--no-alert-log'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
for (let i = 0; ; i++) {
  const up = await new Promise((done) => {
    const c = connect(port, '127.0.0.1', () => (c.destroy(), done(true)))
    c.on('error', () => done(false))
  })
  if (up) break
  if (i > 300 || server.exitCode !== null) throw new Error('kubetrail serve did not start')
  await new Promise((w) => setTimeout(w, 50))
}

const steps = [
  ['replay', log, '--to', url, '--data-dir', dataDir],
  ['replay', log, '--to', url, '--data-dir', dataDir],
  ['policy', 'check', 'examples/policies/comprehensive.yaml'],
  ['policy', 'lint', 'examples/policies/comprehensive.yaml'],
  ['policy', 'explain', 'examples/policies/comprehensive.yaml', '--user', 'alice@example.com', '--verb', 'get', '--resource', 'pods/exec', '--namespace', 'production', '--name', 'web-1'],
  ['policy', 'explain', 'examples/policies/comprehensive.yaml', '--requests', 'examples/requests.ndjson'],
  ['policy', 'simulate', 'examples/policies/low-write.yaml', log],
  ['policy', 'diff', 'examples/policies/minimal.yaml', 'examples/policies/comprehensive.yaml', log],
  ['who', 'delete', 'deployment/novelapp', '-n', 'production', '--data-dir', dataDir],
  ['query', '--preset', 'privileged-pods', '--data-dir', dataDir],
  ['top', '--by', 'user', '--code', '4xx', '--data-dir', dataDir],
  ['history', 'deployment/webapp', '-n', 'production', '--data-dir', dataDir],
  ['alerts', '--severity', 'high', '--data-dir', dataDir],
  ['verify', '--data-dir', dataDir],
]

let failed = 0
let i = 0
for (const args of steps) {
  // the collector commits to the store within 2 s of acknowledging
  if (i++ === 2) await new Promise((w) => setTimeout(w, 2500))
  console.log(`\n$ kubetrail ${args.join(' ')}`)
  const run = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: 'inherit' })
  // lint and check exit 1 on findings by design; only crashes (no exit code) count as failures
  if (run.status === null || run.status > 1) failed++
}
console.log('\n$ kill %1   # SIGTERM: the collector commits what it holds and stops')
server.kill('SIGTERM')
await new Promise((done) => server.once('exit', done))
if (server.exitCode !== 0) failed++
process.exitCode = failed > 0 ? 1 : 0
