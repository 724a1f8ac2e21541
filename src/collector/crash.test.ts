/**
 * Durability under SIGKILL: the real `kubetrail serve` process is killed at random moments while
 * batches arrive; every batch without a 2xx is sent again (as the apiserver retries), and some
 * acknowledged ones too (a retry after a lost reply). In the end the store holds every event
 * exactly once and its chain verifies. Serve runs with the deployed Node flags.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { freePort } from '../../test/support/net.js'
import { post } from '../core/http.js'
import { openStore } from '../store/index.js'

const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js')
/** The heap flags the systemd unit, the image and `npm start` run serve with: the test runs it as deployed. */
const DEPLOYED_NODE_FLAGS = /NODE_OPTIONS=([^"\n]+)/.exec(readFileSync(resolve(import.meta.dirname, '../../deploy/systemd/kubetrail.service'), 'utf8'))![1]!.split(' ')
const LINES = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n').filter(Boolean)

async function waitUp(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`)
    try {
      const r = await fetch(`${url}/livez`)
      if (r.ok) return
    } catch {
      // not yet listening
    }
    await new Promise((w) => setTimeout(w, 50))
  }
  throw new Error('serve did not come up')
}

/** A seeded PRNG: a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('collector durability', () => {
  it('SIGKILL at random moments loses no acknowledged event and duplicates none', async () => {
    const random = rng(20261123)
    const dataDir = join(mkdtempSync(join(tmpdir(), 'kubetrail-crash-')), 'data')
    // 80 batches of 400 distinct events (the real log's events, re-identified per round)
    const events: string[] = []
    for (let round = 0; events.length < 32_000; round++)
      for (const line of LINES) events.push(line.replace(/"auditID":"([^"]+)"/, (_m, id: string) => `"auditID":"${id.slice(0, -4)}${String(round).padStart(4, '0')}"`))
    events.length = 32_000
    const batches = Array.from({ length: 80 }, (_, i) => `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${events.slice(i * 400, (i + 1) * 400).join(',')}]}`)
    const acked = new Set<number>()
    let kills = 0
    // lives killed with batches still unacknowledged: the kill really hit a stream of requests
    let interrupted = 0
    for (let life = 0; life <= 4; life++) {
      const port = await freePort()
      const url = `http://127.0.0.1:${port}`
      // every other life commits in a thread of its own (serve --seal-thread): both sealers, and a switch between them over one WAL
      const sealThread = life % 2 === 0 ? ['--seal-thread'] : []
      const child = spawn(process.execPath, [...DEPLOYED_NODE_FLAGS, CLI, 'serve', '--insecure', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...sealThread], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
      // its log (alerts included) must be read: a full pipe would block the collector's output and its exit
      child.stdout!.resume()
      await waitUp(url, child).catch((e: Error) => {
        throw new Error(`${e.message}: ${stderr}`)
      })
      const lastLife = life >= 4
      const killAfter = lastLife ? Infinity : 80 + random() * 300
      const started = Date.now()
      const todo = batches.map((_, i) => i).filter((i) => !acked.has(i) || random() < 0.1)
      // 4 senders, like the apiserver's concurrent batch requests
      await Promise.all([
        ...[0, 1, 2, 3].map(async (lane) => {
          for (let k = lane; k < todo.length; k += 4) {
            if (Date.now() - started > killAfter) return
            try {
              const r = await post(new URL(`${url}/v1/clusters/crash/events`), batches[todo[k]!]!, {})
              if (r.status === 200) acked.add(todo[k]!)
            } catch {
              return // killed under us
            }
          }
        }),
        lastLife
          ? Promise.resolve()
          : new Promise<void>((done) =>
              setTimeout(() => {
                child.kill('SIGKILL')
                kills++
                done()
              }, killAfter),
            ),
      ])
      if (lastLife) {
        child.kill('SIGTERM')
        await new Promise((done) => child.once('exit', done))
        expect(child.exitCode ?? 0).toBe(0)
      } else {
        if (acked.size < batches.length) interrupted++
        if (child.exitCode === null) child.kill('SIGKILL')
        await new Promise((done) => (child.exitCode !== null || child.signalCode !== null ? done(undefined) : child.once('exit', done)))
      }
    }
    expect(kills).toBeGreaterThanOrEqual(4)
    expect(interrupted).toBeGreaterThanOrEqual(2)
    expect(acked.size).toBe(batches.length)
    const store = await openStore(dataDir)
    expect(await store.count({ clusters: ['crash'] })).toBe(events.length)
    const { rows } = await store.sql('SELECT count(DISTINCT (audit_id, stage, request_received_at)) FROM events')
    expect(Number(rows[0]![0])).toBe(events.length)
    expect((await store.verify()).ok).toBe(true)
    await store.close()
  }, 120_000)
})
