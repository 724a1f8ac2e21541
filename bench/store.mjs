// The store: import rate next to a plain JSON.parse line loop (same file, same run), store size
// against the raw log, peak RSS of the import, and latency of every query preset and `who` on
// 1M stored events (p50 of 7 runs in a warm process, 5 as whole commands) next to the guide's
// jq over the raw file.
import { spawn, spawnSync } from 'node:child_process'
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
  // The query targets are for 1M stored events: top the store up with a second generated log
  // (another seed, the following day) to exactly 1,000,000.
  const missing = 1_000_000 - loop.events
  if (missing > 0) {
    const extra = join(dirname(dir), 'extra.ndjson')
    spawnSync(process.execPath, [resolve(root, 'scripts/gen-audit.mjs'), '--events', String(missing), '--seed', '7', '--start', '2024-06-02T00:00:00Z', '--out', extra], { stdio: 'ignore' })
    const top = timeCli(['import', extra, '--data-dir', dir])
    if (top.status !== 0) throw new Error(`topping up the store failed: ${top.stdout}`)
    result.queriedEvents = 1_000_000
  } else result.queriedEvents = loop.events
  console.log(`queries on ${result.queriedEvents.toLocaleString()} stored events:`)
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
  // Three ways to run a query: the store opened per call in a warm process; asked of a running
  // `kubetrail serve` over its socket (a reader kept open: how the CLI and UI ask while the
  // collector runs); and a whole command, alone and with serve running.
  const { runInServer } = await import(resolve(root, 'dist/cli/query-socket.js'))
  const viaServe = async (args) => {
    const t0 = performance.now()
    const code = await runInServer(args, process.cwd(), { out: async () => {}, err: () => {} })
    if (code !== 0) throw new Error(`served ${args.join(' ')} exited ${code}`)
    return (performance.now() - t0) / 1000
  }
  const p50 = async (n, f) => {
    await f()
    const times = []
    for (let i = 0; i < n; i++) times.push(await f())
    return Math.round(median(times) * 1000)
  }
  const commands = new Map()
  for (const p of presets) commands.set(`query --preset ${p}`, ['query', '--preset', p, '--limit', '100', '-o', 'json', '--data-dir', dir])
  commands.set('who delete deployments -n payments', ['who', 'delete', 'deployments', '-n', 'payments', '--data-dir', dir])
  for (const [name, args] of commands) {
    result.queries[name] = { p50ms: await p50(7, () => warm(args)), commandP50ms: await p50(5, async () => timeCli(args).seconds) }
  }
  const serve = spawn(process.execPath, [cli, 'serve', '--insecure', '--listen', '127.0.0.1:0', '--no-detect', '--no-alert-log', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((ready, fail) => {
    let log = ''
    serve.stdout.on('data', (c) => (log += c) && /collector ready/.test(log) && ready())
    serve.on('exit', () => fail(new Error(`serve exited: ${log}`)))
  })
  try {
    for (const [name, args] of commands) {
      const q = result.queries[name]
      q.servedP50ms = await p50(7, () => viaServe(args))
      q.servedCommandP50ms = await p50(5, async () => timeCli(args).seconds)
      console.log(`${name.padEnd(38)} p50 ${String(q.servedP50ms).padStart(4)} ms asked of serve, ${String(q.p50ms).padStart(4)} ms opening the store per call; as a whole command ${q.servedCommandP50ms} ms with serve running, ${q.commandP50ms} ms alone`)
    }
  } finally {
    serve.kill('SIGTERM')
    await new Promise((done) => serve.once('exit', done))
  }
  for (const [p, filter] of Object.entries(jq)) {
    const t0 = performance.now()
    spawnSync('sh', ['-c', `jq -c '${filter}' < '${file}' > /dev/null`])
    const s = (performance.now() - t0) / 1000
    const q = result.queries[`query --preset ${p}`]
    q.jqSeconds = +s.toFixed(2)
    q.vsJq = Math.round((s * 1000) / q.servedP50ms)
    q.commandVsJq = Math.round((s * 1000) / q.servedCommandP50ms)
    q.aloneCommandVsJq = Math.round((s * 1000) / q.commandP50ms)
    console.log(`jq '${filter}' over the raw file: ${s.toFixed(1)} s = ${q.vsJq}x the preset asked of serve, ${q.commandVsJq}x as a command with serve running, ${q.aloneCommandVsJq}x as a command alone`)
  }
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) await benchStore(process.argv[2])
