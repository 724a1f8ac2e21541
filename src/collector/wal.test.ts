import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readWalFile, WriteAheadLog } from './wal.js'

const event = (i: number) => JSON.stringify({ auditID: `e-${i}`, stage: 'ResponseComplete' })

describe('WAL files close at their limits', () => {
  it('closes a file once it holds maxEvents, even when appends never stop', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-wal-')), 'wal')
    let full = 0
    const wal = await WriteAheadLog.open(dir, { maxEvents: 10, onFull: () => full++ })
    // four senders appending back to back: new writes arrive while each group syncs, so the
    // write loop never runs dry (a rotation queued behind it would never run)
    let n = 0
    await Promise.all([0, 1, 2, 3].map(async () => {
      for (let k = 0; k < 25; k++) await wal.append('c', [event(n++)])
    }))
    await wal.rotate() // a barrier: runs after the loop, and closes what is left
    expect(full).toBeGreaterThanOrEqual(5)
    const pending = wal.pendingFiles()
    const counts = pending.map((p) => (readWalFile(p).get('c') ?? []).length)
    // a file closes after the group that reached the limit: at most one group (4) beyond it
    for (const c of counts) expect(c).toBeLessThanOrEqual(10 + 4)
    expect(counts.reduce((a, b) => a + b, 0)).toBe(100)
  })

  it('a rotation that fails keeps every acknowledged event in the active file, and the next one succeeds', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-wal-')), 'wal')
    const wal = await WriteAheadLog.open(dir, { maxEvents: 3 })
    // the next file's name is taken: opening it fails, as on a full disk
    const blocker = join(dir, '000000000002.wal')
    mkdirSync(blocker)
    for (let i = 0; i < 5; i++) await wal.append('c', [event(i)])
    // a barrier (the rotation the last write started has failed too), then free the name
    await wal.rotate().catch(() => undefined)
    expect(wal.active.events).toBe(5)
    rmSync(blocker, { recursive: true })
    await wal.append('c', [event(5)])
    await wal.rotate() // a barrier: after the rotation the last write started (then nothing is left to close)
    const files = readdirSync(dir).filter((f) => f.endsWith('.wal')).sort()
    expect(files).toEqual(['000000000001.wal', '000000000002.wal'])
    const closed = readWalFile(join(dir, files[0]!)).get('c') ?? []
    expect(closed.map((e) => JSON.parse(e.json).auditID)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `e-${i}`))
  })

  it('never offers the sealer a file a rotation is still opening (it was sealed empty and deleted, and the events then written to it lost)', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-wal-')), 'wal')
    const wal = await WriteAheadLog.open(dir)
    await wal.append('c', [event(0)])
    // the window, made to stay open: the next file exists while the active one is still the first
    writeFileSync(join(dir, '000000000002.wal'), '', { mode: 0o600 })
    expect(wal.pendingFiles()).toEqual([])
    rmSync(join(dir, '000000000002.wal'))
    // and in real rotations, watched from the event loop while they run
    const listed = new Set<string>()
    for (let i = 1; i <= 20; i++) {
      await wal.append('c', [event(i)])
      let done = false
      const rotation = wal.rotate().then(() => (done = true))
      while (!done) {
        for (const p of wal.pendingFiles()) listed.add(p)
        await new Promise((r) => setImmediate(r))
      }
      await rotation
    }
    for (const p of wal.pendingFiles()) listed.add(p)
    expect(listed.size).toBe(20)
    for (const p of listed) expect((readWalFile(p).get('c') ?? []).length, p).toBe(p.endsWith('000000000001.wal') ? 2 : 1)
  })
})
