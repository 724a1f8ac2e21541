import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { GEN_AUDIT, requireFixture } from '../../test/support/fixtures.js'
import { readAuditLog } from './index.js'

// Generating and reading 200 MB takes ~6 s here; KUBETRAIL_SKIP_MEMORY_TEST=1 skips it.
// never skipped under CI: there every test must run
const skip = process.env['KUBETRAIL_SKIP_MEMORY_TEST'] === '1' && process.env['CI'] !== 'true'
const dir = mkdtempSync(join(tmpdir(), 'kubetrail-memory-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe.skipIf(skip)('readAuditLog memory', () => {
  it('stays flat on a 200 MB log: RSS grows by less than 150 MB, in both modes', async () => {
    const file = join(dir, 'audit.log')
    execFileSync(process.execPath, [requireFixture(GEN_AUDIT), '--bytes', '200000000', '--out', file], { stdio: 'ignore' })
    expect(statSync(file).size).toBeGreaterThan(190_000_000)
    for (const mode of ['head', 'full'] as const) {
      const before = process.memoryUsage.rss()
      let peak = before
      let events = 0
      for await (const batch of readAuditLog(file, { mode })) {
        events += batch.length
        peak = Math.max(peak, process.memoryUsage.rss())
      }
      expect(events).toBeGreaterThan(100_000)
      expect((peak - before) / 2 ** 20).toBeLessThan(150)
    }
    rmSync(file)
  }, 60_000)
})
