/**
 * The follower against real rotation: the apiserver's (rename, then a new file; backups named
 * audit-<time>.log, some gzipped afterwards) and logrotate's copy-truncate, across collector
 * restarts, one of them while a rotation happens.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { openStore } from '../store/index.js'
import { Collector } from './collector.js'
import { Follower } from './follower.js'

const LINES = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n').filter(Boolean)

/** Distinct events: the fixture's lines with a fresh auditID each time around. */
function* eventLines(): Generator<string> {
  for (let round = 0; ; round++) for (const line of LINES) yield line.replace(/"auditID":"([^"]+)"/, (_m, id: string) => `"auditID":"${id.slice(0, -4)}${String(round).padStart(4, '0')}"`)
}

describe('follower', () => {
  it('reads every event exactly once through 5 rotations (2 gzipped), a partial line and 2 restarts, one during a rotation', async () => {
    const base = mkdtempSync(join(tmpdir(), 'kubetrail-follow-'))
    const logDir = join(base, 'log')
    const dataDir = join(base, 'data')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(logDir)
    const live = join(logDir, 'audit.log')
    const source = eventLines()
    let written = 0
    const write = (n: number) => {
      let text = ''
      for (let i = 0; i < n; i++) text += source.next().value + '\n'
      appendFileSync(live, text)
      written += n
    }
    let clock = Date.parse('2026-11-22T21:00:00.000Z')
    const rotate = (compress: boolean) => {
      clock += 60_000
      const stamp = new Date(clock).toISOString().replace(/:/g, '-').replace('Z', '')
      const backup = join(logDir, `audit-${stamp}.log`)
      renameSync(live, backup)
      writeFileSync(live, '')
      if (compress) {
        writeFileSync(`${backup}.gz`, gzipSync(readFileSync(backup)))
        rmSync(backup)
      }
    }
    const start = async () => {
      const collector = await Collector.start({ dataDir, sealIntervalMs: 10 })
      const follower = new Follower({ path: live, cluster: 'c1' }, collector, { checkpointPath: join(dataDir, 'follow-checkpoints.json') })
      return { collector, follower }
    }

    writeFileSync(live, '')
    let { collector, follower } = await start()
    write(300)
    await follower.poll()
    rotate(false) // 1
    write(200)
    await follower.poll()
    write(100)
    // a line being written: its second half arrives later
    const partial = source.next().value!
    appendFileSync(live, partial.slice(0, 50))
    await follower.poll()
    appendFileSync(live, partial.slice(50) + '\n')
    written++
    rotate(true) // 2: rotated and gzipped before the follower saw the end of the file
    write(150)
    await follower.poll()

    // restart 1, with a rotation while the collector is down
    await collector.stop()
    write(120)
    rotate(false) // 3
    write(80)
    ;({ collector, follower } = await start())
    await follower.poll()
    rotate(true) // 4
    write(60)

    // restart 2 between two rotations, nothing read in between
    await collector.stop()
    rotate(false) // 5
    write(40)
    ;({ collector, follower } = await start())
    await follower.poll()
    await follower.poll()
    await collector.stop()

    const store = await openStore(dataDir)
    expect(await store.count({ clusters: ['c1'] })).toBe(written)
    const { rows } = await store.sql('SELECT count(DISTINCT (audit_id, stage)) FROM events')
    expect(Number(rows[0]![0])).toBe(written)
    expect((await store.verify()).ok).toBe(true)
    await store.close()
  })

  it('finishes a copy-truncated file from its copy, then reads the file again from the start', async () => {
    const base = mkdtempSync(join(tmpdir(), 'kubetrail-follow-'))
    const dataDir = join(base, 'data')
    const live = join(base, 'audit.log')
    writeFileSync(live, LINES.slice(0, 100).join('\n') + '\n')
    const collector = await Collector.start({ dataDir })
    const follower = new Follower({ path: live, cluster: 'c' }, collector, { checkpointPath: join(dataDir, 'cp.json') })
    await follower.poll()
    appendFileSync(live, LINES.slice(100, 150).join('\n') + '\n')
    copyFileSync(live, `${live}.1`)
    truncateSync(live, 0)
    appendFileSync(live, LINES.slice(150, 170).join('\n') + '\n')
    await follower.poll()
    await collector.stop()
    const store = await openStore(dataDir)
    expect(await store.count({})).toBe(170)
    await store.close()
  })

  it('reports a malformed line by file and line and keeps its neighbours', async () => {
    const base = mkdtempSync(join(tmpdir(), 'kubetrail-follow-'))
    const dataDir = join(base, 'data')
    const live = join(base, 'audit.log')
    writeFileSync(live, [LINES[0], '{"broken', LINES[1], LINES[2]].join('\n') + '\n')
    const logs: string[] = []
    const collector = await Collector.start({ dataDir })
    const follower = new Follower({ path: live, cluster: 'c' }, collector, { checkpointPath: join(dataDir, 'cp.json'), log: (l) => logs.push(l) })
    await follower.poll()
    await collector.stop()
    expect(logs.join('\n')).toContain(`${live}:2: not JSON`)
    const store = await openStore(dataDir)
    expect(await store.count({})).toBe(3)
    await store.close()
  })

  it('never sticks on a line: one over --max-body is reported and passed, one over the 8 MiB read chunk is stored', async () => {
    const base = mkdtempSync(join(tmpdir(), 'kubetrail-follow-'))
    const dataDir = join(base, 'data')
    const live = join(base, 'audit.log')
    const withBody = (line: string, id: string, bytes: number) =>
      line.replace(/"auditID":"[^"]+"/, `"auditID":"${id}"`).replace(/,"requestReceivedTimestamp"/, `,"requestObject":{"pad":"${'x'.repeat(bytes)}"},"requestReceivedTimestamp"`)
    writeFileSync(live, [LINES[0], withBody(LINES[1]!, 'too-long', 3 << 20), LINES[2], withBody(LINES[3]!, 'over-a-chunk', 9 << 20), LINES[4]].join('\n') + '\n')
    const logs: string[] = []
    const collector = await Collector.start({ dataDir })
    const follower = new Follower({ path: live, cluster: 'c' }, collector, { checkpointPath: join(dataDir, 'cp.json'), log: (l) => logs.push(l), maxLineBytes: 10 << 20 })
    const small = new Follower({ path: live, cluster: 'small' }, collector, { checkpointPath: join(dataDir, 'cp-small.json'), log: (l) => logs.push(l), maxLineBytes: 2 << 20 })
    await follower.poll()
    await small.poll()
    await collector.stop()
    expect(logs.join('\n')).toMatch(new RegExp(`${live}:2: line of \\d+ bytes, longer than ${2 << 20} \\(serve --max-body\\): skipped`))
    expect(logs.join('\n')).toMatch(new RegExp(`${live}:4: line of \\d+ bytes, longer than ${2 << 20}`))
    const store = await openStore(dataDir)
    expect(await store.count({ clusters: ['c'] })).toBe(5)
    expect(await store.count({ clusters: ['small'] })).toBe(3)
    await store.close()
    expect((JSON.parse(readFileSync(join(dataDir, 'cp-small.json'), 'utf8')) as Record<string, { offset: number }>)[live]!.offset).toBe(readFileSync(live).length)
  })

  it('reads again from the start when the checkpoint file is torn, and says /readyz-not-ready while the followed path cannot be read', async () => {
    const base = mkdtempSync(join(tmpdir(), 'kubetrail-follow-'))
    const dataDir = join(base, 'data')
    const live = join(base, 'audit.log')
    const cpFile = join(dataDir, 'cp.json')
    writeFileSync(live, LINES.slice(0, 10).join('\n') + '\n')
    const logs: string[] = []
    const collector = await Collector.start({ dataDir })
    writeFileSync(cpFile, '{"torn')
    const follower = new Follower({ path: live, cluster: 'c' }, collector, { checkpointPath: cpFile, log: (l) => logs.push(l), pollMs: 20 })
    await follower.poll()
    expect(logs.join('\n')).toMatch(/not readable as checkpoints/)
    // a directory where the log should be: every poll fails until it is a file again
    rmSync(live)
    mkdirSync(live)
    follower.start()
    for (let i = 0; i < 100 && collector.ready; i++) await new Promise((r) => setTimeout(r, 20))
    expect(collector.ready).toBe(false)
    expect(collector.notReadyReason).toMatch(new RegExp(`following ${live}: .*EISDIR`))
    expect(await collector.metrics.registry.getSingleMetricAsString('kubetrail_follower_failing')).toMatch(/kubetrail_follower_failing\{path=".*"\} 1/)
    rmSync(live, { recursive: true })
    writeFileSync(live, LINES.slice(10, 12).join('\n') + '\n')
    for (let i = 0; i < 100 && !collector.ready; i++) await new Promise((r) => setTimeout(r, 20))
    expect(collector.ready).toBe(true)
    await follower.stop()
    await collector.stop()
    const store = await openStore(dataDir)
    expect(await store.count({})).toBe(12)
    await store.close()
  })

  it('reports a truncated gzip backup and reads the backups and the live file after it', async () => {
    const base = mkdtempSync(join(tmpdir(), 'kubetrail-follow-'))
    const dataDir = join(base, 'data')
    const live = join(base, 'audit.log')
    writeFileSync(live, LINES.slice(0, 5).join('\n') + '\n')
    const logs: string[] = []
    const collector = await Collector.start({ dataDir })
    const follower = new Follower({ path: live, cluster: 'c' }, collector, { checkpointPath: join(dataDir, 'cp.json'), log: (l) => logs.push(l) })
    await follower.poll()
    appendFileSync(live, LINES.slice(5, 200).join('\n') + '\n')
    const gz = gzipSync(readFileSync(live))
    writeFileSync(join(base, 'audit-2026-01-01T00-00-00.000.log.gz'), gz.subarray(0, gz.length - 200))
    rmSync(live)
    writeFileSync(join(base, 'audit-2026-01-01T00-01-00.000.log'), LINES.slice(200, 210).join('\n') + '\n')
    writeFileSync(live, LINES.slice(210, 215).join('\n') + '\n')
    await follower.poll()
    await collector.stop()
    expect(logs.join('\n')).toMatch(/audit-2026-01-01T00-00-00\.000\.log\.gz:\d+: cannot read further: the gzip data ends early/)
    const store = await openStore(dataDir)
    // what the truncated backup still held, and everything after it
    const n = await store.count({})
    expect(n).toBeGreaterThan(5 + 15)
    expect(n).toBeLessThan(215)
    await store.close()
  })
})
