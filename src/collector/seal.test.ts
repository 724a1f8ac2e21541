import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FIXTURES_DIR, requireFixture, GEN_AUDIT } from '../../test/support/fixtures.js'
import { Collector } from './collector.js'
import { chunksOfBytes } from './sealer.js'
import { openStore } from '../store/index.js'

describe('chunksOfBytes', () => {
  it('property: keeps every event in order, each chunk within the limit unless one event alone exceeds it', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 50 }), { maxLength: 60 }), fc.integer({ min: 1, max: 120 }), (texts, max) => {
        const events = texts.map((json, i) => ({ json, i }))
        const chunks = chunksOfBytes(events, max)
        expect(chunks.flat()).toEqual(events)
        for (const c of chunks) {
          expect(c.length).toBeGreaterThan(0)
          if (c.length > 1) expect(c.reduce((n, e) => n + e.json.length, 0)).toBeLessThanOrEqual(max)
        }
      }),
    )
  })
})

describe('sealing under load', () => {
  it('closes WAL files at 6 MB while the sealer waits, and commits them one at a time', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kubetrail-seal-')), 'gen.ndjson')
    execFileSync(process.execPath, [requireFixture(GEN_AUDIT), '--bytes', '20000000', '--seed', '5', '--out', file], { stdio: 'ignore' })
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
    const dataDir = join(mkdtempSync(join(tmpdir(), 'kubetrail-seal-')), 'data')
    // no seal by time or count during the test: only the size closes files
    const collector = await Collector.start({ dataDir, sealIntervalMs: 3_600_000, sealEvents: 1_000_000, compactIntervalMs: 3_600_000 })
    try {
      for (let i = 0; i < lines.length; i += 400) await collector.ingest('default', 'webhook', lines.slice(i, i + 400).map((l, j) => ({ at: `line ${i + j + 1}`, value: JSON.parse(l) as unknown })))
      await collector.flush()
    } finally {
      await collector.stop()
    }
    const store = await openStore(dataDir)
    const stats = await store.stats()
    await store.close()
    expect(stats.events).toBe(lines.length)
    // ~20 MB of events: three commits or more (a file closes after the group that passed 6 MB)
    expect(stats.batches).toBeGreaterThanOrEqual(3)
    expect(stats.events / stats.batches).toBeLessThan((7 * 1024 * 1024) / 1000)
    expect(readdirSync(join(dataDir, 'wal')).filter((f) => f.endsWith('.wal')).length).toBeLessThanOrEqual(1)
  })
})

describe('sealing WAL files the store cannot read itself', () => {
  it('a file left with a bare CR in an event (by an older version) is still stored, every event once', async () => {
    const lines = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n').filter(Boolean).slice(0, 50)
    const dataDir = join(mkdtempSync(join(tmpdir(), 'kubetrail-seal-')), 'data')
    mkdirSync(join(dataDir, 'wal'), { recursive: true, mode: 0o700 })
    const text = lines.map((l, i) => `default\t${i === 7 ? l.replace('"level":', '\r"level":') : l}\n`).join('')
    writeFileSync(join(dataDir, 'wal', '000000000001.wal'), text, { mode: 0o600 })
    const collector = await Collector.start({ dataDir })
    await collector.stop()
    const store = await openStore(dataDir)
    expect(await store.count({})).toBe(50)
    await store.close()
  })
})
