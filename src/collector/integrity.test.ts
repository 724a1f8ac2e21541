/**
 * The collector and the chain: every commit's head leaves the data directory (log line and
 * metrics), and a compaction that meets tampered data refuses, says so, counts it, and leaves
 * the evidence for `verify`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { rawEvents } from '../store/store.suite.js'
import { openStore, parseHeadRecord, type ChainLink } from '../store/index.js'
import { Collector } from './collector.js'

function chain(dataDir: string): ChainLink[] {
  return readFileSync(join(dataDir, 'chain.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ChainLink)
}

/**
 * Changes a byte of batch `seq`'s segment, as someone with write access to the data directory
 * could (the store suite re-attributes 8 events through the engine itself; this folder does not
 * reach into an engine).
 */
function tamper(dataDir: string, seq: number): void {
  const path = join(dataDir, 'segments', chain(dataDir).find((l) => l.seq === seq)!.segment!)
  const bytes = readFileSync(path)
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff
  writeFileSync(path, bytes)
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((r) => setTimeout(r, 50))
  expect(condition(), what).toBe(true)
}

describe('the collector and the chain', () => {
  it('logs every commit\'s chain head and exports it as metrics; refuses to compact a tampered batch, says so at every round, and keeps the evidence', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'kubetrail-integrity-')), 'data')
    const events = rawEvents().slice(0, 750)
    const log: string[] = []
    const first = await Collector.start({ dataDir, compactIntervalMs: 3_600_000, log: (l) => log.push(l) })
    try {
      for (let i = 0; i < 5; i++) {
        await first.ingest('default', 'webhook', events.slice(i * 150, (i + 1) * 150).map((e) => ({ at: `line ${e.line}`, value: JSON.parse(e.json) as unknown })))
        await first.flush()
      }
      const links = chain(dataDir)
      expect(links.length).toBe(5)
      // the last head logged is the chain's head, whole, with its link number
      expect(parseHeadRecord(log.join('\n'))).toEqual({ hash: links[4]!.hash, seq: 5 })
      expect(log.filter((l) => /^chain head after storing 150 events: [0-9a-f]{64} \(link \d\)$/.test(l))).toHaveLength(5)
      const metrics = await first.metrics.registry.metrics()
      expect(metrics).toContain('kubetrail_store_chain_links 5')
      expect(metrics).toContain(`kubetrail_store_chain_head_fingerprint ${parseInt(links[4]!.hash.slice(0, 12), 16)}`)
    } finally {
      await first.stop()
    }

    tamper(dataDir, 3)
    log.length = 0
    const second = await Collector.start({ dataDir, compactIntervalMs: 0, log: (l) => log.push(l) })
    try {
      expect(log).toContain(`chain head at start: ${chain(dataDir)[4]!.hash} (link 5)`)
      // compaction runs at every seal round here: it must refuse each time, and say why
      await until(() => log.filter((l) => l.startsWith('TAMPERING: compaction refused: batch 3 ')).length >= 2, 'two refusals logged')
      expect(await second.metrics.registry.metrics()).toMatch(/kubetrail_store_integrity_failures_total\{operation="compaction"\} [2-9]/)
      expect(log.some((l) => l.startsWith('compacted'))).toBe(false)
    } finally {
      await second.stop()
    }
    expect(chain(dataDir).length).toBe(5)
    const store = await openStore(dataDir)
    const report = await store.verify()
    expect(report.problems.map((p) => p.seq)).toEqual([3])
    await store.close()
  })
})
