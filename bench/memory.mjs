// Memory stays flat for any file size: peak RSS of a child process reading a log (head and
// full mode, and simulate), for a 100 MB prefix of the benchmark log and for the whole log.
import { execFileSync } from 'node:child_process'
import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function prefixFile(file, bytes) {
  const out = `${file}.prefix-${bytes}`
  const fd = openSync(file, 'r')
  const buf = Buffer.alloc(bytes)
  const n = readSync(fd, buf, 0, bytes, 0)
  closeSync(fd)
  writeFileSync(out, buf.subarray(0, buf.subarray(0, n).lastIndexOf(10) + 1))
  return out
}

function peakRssMb(script, args) {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, ...args], { cwd: root, encoding: 'utf8' })
  return Math.round(Number(out.trim()) / 1024)
}

const READ = `
import { readAuditLog } from './dist/ingest/index.js'
let n = 0
for await (const b of readAuditLog(process.argv[1], { mode: process.argv[2] })) n += b.length
console.log(process.resourceUsage().maxRSS)`

const SIMULATE = `
import { invoke } from './dist/cli/program.js'
import { collectOutput } from './dist/cli/command.js'
process.env.KUBETRAIL_PARALLEL_MIN_BYTES = String(2 ** 40)
const r = await invoke(['policy', 'simulate', 'examples/policies/comprehensive.yaml', process.argv[1], '-o', 'json'], { stdin: process.stdin, cwd: process.cwd(), isTTY: false })
await collectOutput(r.result)
console.log(process.resourceUsage().maxRSS)`

export async function benchMemory(file) {
  const small = prefixFile(file, 100_000_000)
  const result = {}
  for (const [name, script, extra] of [['read-head', READ, ['head']], ['read-full', READ, ['full']], ['simulate', SIMULATE, []]]) {
    result[name] = { smallMb: peakRssMb(script, [small, ...extra]), largeMb: peakRssMb(script, [file, ...extra]) }
    console.log(`peak RSS ${name.padEnd(10)} ${String(result[name].smallMb).padStart(4)} MB on ${(statSync(small).size / 1e6).toFixed(0)} MB, ${String(result[name].largeMb).padStart(4)} MB on ${(statSync(file).size / 1e6).toFixed(0)} MB`)
  }
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) await benchMemory(process.argv[2])
