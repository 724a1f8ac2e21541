// The store: import rate next to a plain JSON.parse line loop (same file, same run), store size
// against the raw log, peak RSS of the import, and latency of every query preset and `who`
// (p50 of 5 runs) next to the guide's jq over the raw file.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { plainJsonParseLoop } from './read.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cli = resolve(root, 'dist/cli/main.js')

function timeCli(args) {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 })
  return { seconds: (performance.now() - t0) / 1000, status: r.status, stdout: r.stdout }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function benchStore(file) {
  const bytes = statSync(file).size
  const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-bench-')), 'data')
  const t0 = performance.now()
  const loop = { events: await plainJsonParseLoop(file) }
  loop.seconds = (performance.now() - t0) / 1000
  // the import runs in its own process so its peak RSS is its own
  const imp = spawnSync(process.execPath, ['--input-type=module', '-e', `
    const { invoke } = await import(${JSON.stringify(resolve(root, 'dist/cli/program.js'))})
    const { collectOutput } = await import(${JSON.stringify(resolve(root, 'dist/cli/command.js'))})
    const t0 = performance.now()
    const r = await invoke(['import', ${JSON.stringify(file)}, '--data-dir', ${JSON.stringify(dir)}], { stdin: process.stdin, cwd: process.cwd(), isTTY: false })
    const out = await collectOutput(r.result)
    console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, maxRssKb: process.resourceUsage().maxRSS, out }))`], { encoding: 'utf8' })
  if (imp.status !== 0) throw new Error(`import failed: ${imp.stderr}${imp.stdout}`)
  const importRun = JSON.parse(imp.stdout.trim().split('\n').at(-1))
  const segBytes = readdirSync(join(dir, 'segments')).reduce((n, f) => n + statSync(join(dir, 'segments', f)).size, 0)
  const result = {
    events: loop.events,
    bytes,
    plainLoop: { seconds: +loop.seconds.toFixed(2), eventsPerSec: Math.round(loop.events / loop.seconds) },
    import: { seconds: +importRun.seconds.toFixed(2), eventsPerSec: Math.round(loop.events / importRun.seconds), mbPerSec: +(bytes / 1e6 / importRun.seconds).toFixed(1), peakRssMb: Math.round(importRun.maxRssKb / 1024) },
    storeBytes: segBytes,
    storeRatio: +(bytes / segBytes).toFixed(2),
    queries: {},
  }
  result.import.vsPlainLoop = +(loop.seconds / importRun.seconds).toFixed(2)
  console.log(`import: ${result.import.eventsPerSec.toLocaleString()} events/s, ${result.import.mbPerSec} MB/s (${result.import.vsPlainLoop}x the plain JSON.parse loop at ${result.plainLoop.eventsPerSec.toLocaleString()} events/s), peak RSS ${result.import.peakRssMb} MB`)
  console.log(`store: ${(segBytes / 1e6).toFixed(1)} MB for ${(bytes / 1e6).toFixed(0)} MB of NDJSON = 1/${result.storeRatio}`)
  const presets = ['secret-access', 'failed-auth', 'exec', 'privileged-pods', 'rbac-changes', 'sensitive-resources', 'networkpolicy-deletions', 'sa-token-creation', 'writes', 'service-accounts', 'external-ips']
  // the guide's jq for every preset whose jq is right (the others select something else)
  const jq = {
    'secret-access': 'select(.objectRef.resource=="secrets")',
    'sensitive-resources': 'select(.objectRef.resource=="secrets" or .objectRef.resource=="serviceaccounts" or (.objectRef.apiGroup=="rbac.authorization.k8s.io"))',
    'service-accounts': 'select(.user.username | startswith("system:serviceaccount:"))',
  }
  // Two latencies per query: in a warm process (the CLI's own code run in-process, the store
  // opened per call, as `kubetrail serve` and the UI answer), and the whole command (a new
  // process: Node, modules and DuckDB's native library load every time).
  const { invoke } = await import(resolve(root, 'dist/cli/program.js'))
  const { collectOutput } = await import(resolve(root, 'dist/cli/command.js'))
  const warm = async (args) => {
    const t0 = performance.now()
    const r = await invoke(args, { stdin: process.stdin, cwd: process.cwd(), isTTY: false })
    await collectOutput(r.result)
    return (performance.now() - t0) / 1000
  }
  const measure = async (name, args) => {
    await warm(args)
    const warmTimes = []
    for (let i = 0; i < 7; i++) warmTimes.push(await warm(args))
    const cold = []
    for (let i = 0; i < 5; i++) cold.push(timeCli(args).seconds)
    result.queries[name] = { p50ms: Math.round(median(warmTimes) * 1000), commandP50ms: Math.round(median(cold) * 1000) }
    console.log(`${name.padEnd(38)} p50 ${String(result.queries[name].p50ms).padStart(5)} ms in a warm process, ${result.queries[name].commandP50ms} ms as a whole command`)
  }
  for (const p of presets) await measure(`query --preset ${p}`, ['query', '--preset', p, '--limit', '100', '-o', 'json', '--data-dir', dir])
  await measure('who delete deployments -n payments', ['who', 'delete', 'deployments', '-n', 'payments', '--data-dir', dir])
  for (const [p, filter] of Object.entries(jq)) {
    const t0 = performance.now()
    spawnSync('sh', ['-c', `jq -c '${filter}' < '${file}' > /dev/null`])
    const s = (performance.now() - t0) / 1000
    const q = result.queries[`query --preset ${p}`]
    q.jqSeconds = +s.toFixed(2)
    q.vsJq = Math.round((s * 1000) / q.p50ms)
    q.commandVsJq = Math.round((s * 1000) / q.commandP50ms)
    console.log(`jq '${filter}' over the raw file: ${s.toFixed(1)} s = ${q.vsJq}x the preset in a warm process, ${q.commandVsJq}x as a whole command`)
  }
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) await benchStore(process.argv[2])
