import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { rawEvents } from '../store/store.suite.js'
import { openStore } from '../store/index.js'
import { startSealer, type SealerSpec } from './sealer.js'

/** The worker as `kubetrail serve` runs it: the compiled one (npm test builds before it tests). */
const BUILT_WORKER = new URL('../../dist/collector/seal-worker.js', import.meta.url)

function spec(): SealerSpec {
  const root = mkdtempSync(join(tmpdir(), 'kubetrail-sealer-'))
  const walDir = join(root, 'data', 'wal')
  mkdirSync(walDir, { recursive: true })
  return { dataDir: join(root, 'data'), walDir, store: { write: true, threads: 1, memoryLimit: '96MB', batchCompressionLevel: 3 } }
}

// one suite, both ways the collector runs its sealer
for (const [name, worker] of [
  ['in-process', false],
  ['worker thread (built)', BUILT_WORKER],
] as const) {
  describe(`sealer: ${name}`, () => {
    it('exists', () => {
      if (worker) expect(existsSync(fileURLToPath(worker)), 'run `npm run build` first').toBe(true)
    })

    it('commits a WAL file per cluster, names a malformed line, and stores nothing twice', async () => {
      const s = spec()
      const events = rawEvents().slice(0, 120)
      const file = join(s.walDir, '000000000001.wal')
      writeFileSync(file, events.map((e, i) => `${i % 2 ? 'prod' : 'dev'}\t${e.json}\n`).join('') + 'prod\t{"broken\n')
      const sealer = await startSealer(s, { worker })
      try {
        const first = new Map((await sealer.seal(file)).map((r) => [r.cluster, r.result]))
        expect(first.get('dev')!.stored).toBe(60)
        expect(first.get('prod')!.stored).toBe(60)
        expect(first.get('prod')!.malformed).toEqual([{ file, line: 121, reason: expect.stringMatching(/JSON/) }])
        expect((await sealer.seal(file)).map((r) => r.result.stored)).toEqual([0, 0])
      } finally {
        await sealer.close()
      }
      const store = await openStore(s.dataDir)
      expect(await store.count({ clusters: ['prod'] })).toBe(60)
      expect((await store.verify()).ok).toBe(true)
      await store.close()
      rmSync(s.dataDir, { recursive: true, force: true })
    })

    it('compacts, and stops after one merge while a WAL file waits', async () => {
      const events = rawEvents()
      const per = Math.ceil(events.length / 6)
      // runs of two batches: three merges to do
      const s = { ...spec(), compactTargetEvents: 2 * per }
      const sealer = await startSealer(s, { worker })
      try {
        for (let i = 0; i < 6; i++) {
          const file = join(s.walDir, `${String(i + 1).padStart(12, '0')}.wal`)
          writeFileSync(file, events.slice(i * per, (i + 1) * per).map((e) => `default\t${e.json}\n`).join(''))
          await sealer.seal(file)
          rmSync(file)
        }
        // two files: one being written, one waiting for the sealer
        for (const n of ['000000000007.wal', '000000000008.wal']) writeFileSync(join(s.walDir, n), '')
        expect(await sealer.compact()).toMatchObject({ merged: 1, yielded: true, head: { seq: 7 } })
        rmSync(join(s.walDir, '000000000007.wal'))
        expect(await sealer.compact()).toMatchObject({ merged: 2, yielded: false, head: { seq: 9 } })
      } finally {
        await sealer.close()
      }
      const store = await openStore(s.dataDir)
      expect(await store.count({})).toBe(events.length)
      expect((await store.stats()).batches).toBe(3)
      expect((await store.verify()).ok).toBe(true)
      await store.close()
    })

    it('fails to start with the store\'s own error when another process writes to it', async () => {
      const s = spec()
      const first = await startSealer(s, { worker })
      try {
        await expect(startSealer(s, { worker: false })).rejects.toMatchObject({ code: 'KT_STORE_BUSY' })
      } finally {
        await first.close()
      }
      // and the other way round: the refusal crosses the thread with its code
      const holder = await openStore(s.dataDir, { write: true })
      try {
        await expect(startSealer(s, { worker })).rejects.toMatchObject({ code: 'KT_STORE_BUSY', message: expect.stringMatching(/another kubetrail process/) })
      } finally {
        await holder.close()
      }
    })
  })
}
