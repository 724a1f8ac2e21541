/**
 * A real full disk: the collector's data directory on a small tmpfs. When the WAL or the store
 * cannot write, senders get retry-able replies (503 + Retry-After), a metric and a log line say
 * so; once space returns (the tmpfs is grown), ingestion resumes and every acknowledged event is
 * stored exactly once.
 *
 * Mounting needs root: the test runs as root and always under CI (where a failed mount fails it);
 * for other users vitest reports it skipped, and server.test.ts injects the same failure.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { post } from '../core/http.js'
import { openStore } from '../store/index.js'
import { startCollector } from './index.js'

const LINES = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n').filter(Boolean)
const isRoot = process.getuid?.() === 0
const mountPoint = mkdtempSync(join(tmpdir(), 'kubetrail-tmpfs-'))
let mounted = false

function batch(round: number): string {
  const items = LINES.slice(0, 400).map((l) => l.replace(/"auditID":"([^"]+)"/, (_m, id: string) => `"auditID":"${id.slice(0, -5)}${String(round).padStart(5, '0')}"`))
  return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items.join(',')}]}`
}

afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mountPoint])
})

describe('collector on a full disk', () => {
  it.runIf(isRoot || process.env['CI'] === 'true')('answers 503 with Retry-After while the disk is full, and recovers without losing anything acknowledged', async () => {
    // under CI this must run: a failed mount fails the test instead of skipping it
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', mountPoint])
    mounted = true
    const dataDir = join(mountPoint, 'data')
    const logs: string[] = []
    const running = await startCollector({ dataDir, listen: { host: '127.0.0.1', port: 0 }, defaultCluster: 'd', insecure: true, plainHttp: true, sealIntervalMs: 100, log: (l) => logs.push(l) })
    const url = new URL(`${running.url}/v1/events`)
    const acked: number[] = []
    let refused: { status: number; retryAfter?: string } | undefined
    for (let round = 0; round < 40 && !refused; round++) {
      const r = await post(url, batch(round), {})
      if (r.status === 200) acked.push(round)
      else refused = r
    }
    expect(refused, 'the disk never filled').toBeDefined()
    expect([503, 429]).toContain(refused!.status)
    expect(Number(refused!.retryAfter)).toBeGreaterThan(0)
    expect(logs.join('\n')).toMatch(/no space left on device|ENOSPC/i)
    expect(await running.collector.metrics.registry.getSingleMetricAsString('kubetrail_store_write_errors_total')).toMatch(/\} [1-9]/)
    // space comes back
    execFileSync('mount', ['-o', 'remount,size=256m', mountPoint])
    let recovered = false
    for (let i = 0; i < 100 && !recovered; i++) {
      await new Promise((w) => setTimeout(w, 100))
      const r = await post(url, batch(1000), {})
      recovered = r.status === 200
    }
    expect(recovered).toBe(true)
    await running.collector.flush()
    await running.stop()
    const store = await openStore(dataDir)
    // every acknowledged batch, plus the one sent after recovery, exactly once
    expect(await store.count({})).toBe((acked.length + 1) * 400)
    expect((await store.verify()).ok).toBe(true)
    await store.close()
  }, 60_000)
})
