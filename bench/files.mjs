// Questions asked of a raw log without importing it, and the CLI's start-up, next to baselines
// measured in the same run: the seed's jq query over the same file (issue 20: target >= 10x
// faster than jq), and `node -e 0` for start-up (targets: --version and policy check < 100 ms).
// Alone: `npx tsc -p tsconfig.build.json && node bench/files.mjs FILE`.
import { spawnSync } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cli = resolve(root, 'dist/cli/main.js')
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function wall(cmd, args, env = {}) {
  const t0 = performance.now()
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, KUBETRAIL_LOCAL: '1', ...env } })
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return (performance.now() - t0) / 1000
}

/** p50 of `n` runs after one warm-up (the file in the page cache, as for jq). */
function p50(n, f) {
  f()
  const times = []
  for (let i = 0; i < n; i++) times.push(f())
  return median(times)
}

/** `who`'s question in jq (the presets carry the seed's own jq: `seedJq`). */
const WHO_JQ = 'select(.verb=="delete" and .objectRef.resource=="deployments" and .objectRef.namespace=="payments")'

export async function benchFiles(file, { runs = 3 } = {}) {
  const { QUERY_PRESETS } = await import(resolve(root, 'dist/query/index.js'))
  const result = { startup: {}, queries: {} }
  // start-up: the CLI next to Node itself
  const node = p50(9, () => wall(process.execPath, ['-e', '0']))
  const version = p50(9, () => wall(process.execPath, [cli, '--version']))
  const check = p50(9, () => wall(process.execPath, [cli, 'policy', 'check', resolve(root, 'examples/policies/comprehensive.yaml')]))
  result.startup = { nodeMs: Math.round(node * 1000), versionMs: Math.round(version * 1000), policyCheckMs: Math.round(check * 1000) }
  console.log(`start-up p50: node -e 0 ${result.startup.nodeMs} ms; kubetrail --version ${result.startup.versionMs} ms; policy check ${result.startup.policyCheckMs} ms`)
  const commands = [{ name: 'who delete deployments -n payments', args: ['who', 'delete', 'deployments', '-n', 'payments', file, '-o', 'json'], jq: WHO_JQ, jqIsRight: true }]
  for (const p of QUERY_PRESETS) commands.push({ name: `query --preset ${p.name}`, args: ['query', '--preset', p.name, file, '--limit', '100', '-o', 'json'], jq: p.seedJq, jqIsRight: p.jqIsRight })
  for (const { name, args, jq: filter, jqIsRight } of commands) {
    const q = { seconds: +p50(runs, () => wall(process.execPath, [cli, ...args])).toFixed(2) }
    if (filter) {
      // the seed's jq even where it selects something else (jqIsRight false): the time a user waits today
      q.jqIsRight = jqIsRight
      const t0 = performance.now()
      spawnSync('jq', ['-c', filter, file], { stdio: ['ignore', 'ignore', 'ignore'] })
      q.jqSeconds = +((performance.now() - t0) / 1000).toFixed(2)
      q.vsJq = +(q.jqSeconds / q.seconds).toFixed(1)
    }
    result.queries[name] = q
    console.log(`${name.padEnd(38)} over the raw file: ${q.seconds} s${filter ? `; jq ${q.jqSeconds} s = ${q.vsJq}x` : ''}`)
  }
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchFiles(process.argv[2]), null, 2))
