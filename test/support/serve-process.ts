/**
 * @module `kubetrail serve` as its own process, run as deployed (the systemd unit's Node heap
 * flags), for tests that measure it from outside: its memory from /proc/<pid>/status.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { REPO_ROOT } from './fixtures.js'

export const CLI = resolve(REPO_ROOT, 'dist/cli/main.js')
/** The heap flags the systemd unit, the image and `npm start` run serve with. */
export const DEPLOYED_NODE_FLAGS = /NODE_OPTIONS=([^"\n]+)/.exec(readFileSync(resolve(REPO_ROOT, 'deploy/systemd/kubetrail.service'), 'utf8'))![1]!.split(' ')

export interface ServeProcess {
  child: ChildProcess
  /** What it printed so far (stdout and stderr). */
  output(): string
  stop(): Promise<void>
}

/** Starts `kubetrail serve ARGS` with the deployed flags and waits until `readyUrl` answers (any status). */
export async function startServe(args: readonly string[], readyUrl: string, fetchOptions: { ca?: string } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...DEPLOYED_NODE_FLAGS, CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()))
  const { request } = await import('node:https')
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}: ${out}`)
    if (i > 400) throw new Error(`serve did not come up: ${out}`)
    const up = await new Promise<boolean>((done) => {
      const req = request(readyUrl, { ca: fetchOptions.ca, rejectUnauthorized: Boolean(fetchOptions.ca) }, (res) => {
        res.resume()
        done(true)
      })
      req.on('error', () => done(false))
      req.end()
    })
    if (up) break
    await new Promise((w) => setTimeout(w, 50))
  }
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await new Promise((done) => child.once('exit', done))
    },
  }
}

/** The process's resident memory now and at its peak (VmRSS, VmHWM), in bytes, read from /proc. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}
