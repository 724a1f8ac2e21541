/**
 * @module The collector's write-ahead log: what a 2xx reply promises. Accepted events are
 * appended to `wal/<seq>.wal` and fsynced before the reply; a background sealer later commits
 * closed WAL files to the store and deletes them. A crash at any moment leaves every
 * acknowledged event either in a WAL file (sealed again on the next start; the store drops what
 * it already holds) or in the store.
 *
 * One line per event: `<cluster>\t<store line>\n`, the store line being the event's stored
 * columns and then its JSON (src/store; files from older versions hold `<cluster>\t<event
 * JSON>\n`). Cluster names cannot contain a tab, and neither part a raw newline, so the format
 * needs no escaping. A line without its newline was being written when the process died: it was
 * never acknowledged and is skipped.
 *
 * Concurrent appends share one write and one fdatasync (group commit): the throughput of many
 * small webhook batches does not depend on the disk's sync latency per batch.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { open, readFile, type FileHandle } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { RawEvent } from '../ingest/index.js'
import { fsyncPath } from '../core/durable.js'
import { jsonOfStoreLine } from '../store/index.js'

/** When the active file is closed for the sealer, whatever the load. */
export interface WalFileLimits {
  maxBytes?: number
  maxEvents?: number
  /** Called after a file was closed because it reached a limit. */
  onFull?: () => void
}

interface PendingWrite {
  data: Buffer
  events: number
  resolve: () => void
  reject: (error: Error) => void
}

const NAME_DIGITS = 12

export class WriteAheadLog {
  private handle: FileHandle | undefined
  private activePath = ''
  private activeBytes = 0
  private activeEvents = 0
  private activeSince = 0
  private nextSeq: number
  private queue: PendingWrite[] = []
  /** Every file operation runs on this one lane, in order: writes never race a rotation. */
  private lane: Promise<void> = Promise.resolve()
  private drainScheduled = false

  /** Bytes in closed files not yet removed: kept as a count, so the per-request backlog check reads no directory. */
  private closedBytes: number

  private constructor(
    private readonly dir: string,
    private readonly limits: WalFileLimits,
  ) {
    const files = this.files()
    const seqs = files.map((f) => Number(f.slice(0, NAME_DIGITS)))
    this.nextSeq = (seqs.length > 0 ? Math.max(...seqs) : 0) + 1
    this.closedBytes = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0)
  }

  /** Opens (creating, 0700) the WAL directory. Files already there are pending: left by an earlier run. */
  static async open(dir: string, limits: WalFileLimits = {}): Promise<WriteAheadLog> {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    chmodSync(dir, 0o700)
    const wal = new WriteAheadLog(dir, limits)
    await wal.startFile()
    return wal
  }

  private files(): string[] {
    return walFileNames(this.dir)
  }

  /** Opens the next file and makes it the active one; on failure nothing changes (the old file stays active). */
  private async startFile(): Promise<void> {
    const path = join(this.dir, `${String(this.nextSeq).padStart(NAME_DIGITS, '0')}.wal`)
    const handle = await open(path, 'wx', 0o600)
    this.nextSeq++
    fsyncPath(this.dir)
    this.activePath = path
    this.handle = handle
    this.activeBytes = 0
    this.activeEvents = 0
    this.activeSince = Date.now()
  }

  /** Resolves once the events (store lines) are on disk (fdatasync); rejects (and leaves nothing) on failure. */
  append(cluster: string, storeLines: readonly string[]): Promise<void> {
    if (storeLines.length === 0) return Promise.resolve()
    const data = encodeLines(`${cluster}\t`, storeLines)
    return new Promise((resolve, reject) => {
      this.queue.push({ data, events: storeLines.length, resolve, reject })
      if (!this.drainScheduled) {
        this.drainScheduled = true
        void this.onLane(() => this.drain())
      }
    })
  }

  private onLane<T>(op: () => Promise<T>): Promise<T> {
    const run = this.lane.then(op)
    this.lane = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  private async drain(): Promise<void> {
    this.drainScheduled = false
    while (this.queue.length > 0) {
      const group = this.queue
      this.queue = []
      const data = Buffer.concat(group.map((w) => w.data))
      const start = this.activeBytes
      try {
        // A full disk can take part of a write without an error: the rest fails on the next try.
        for (let done = 0; done < data.length; ) {
          const { bytesWritten } = await this.handle!.write(data, done, data.length - done, start + done)
          if (bytesWritten === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write (nothing written)'), { code: 'ENOSPC' })
          done += bytesWritten
        }
        await this.handle!.datasync()
        this.activeBytes += data.length
        this.activeEvents += group.reduce((n, w) => n + w.events, 0)
        for (const w of group) w.resolve()
      } catch (error) {
        // Cut back whatever part was written, so the next write does not follow a torn line.
        await this.handle!.truncate(start).catch(() => undefined)
        for (const w of group) w.reject(error as Error)
        continue
      }
      // Closed here, between groups (and outside the write's error handling: what is above is
      // acknowledged): under sustained load this loop never ends, so a rotation queued on the
      // lane behind it would wait, and the file would grow without bound.
      if (this.activeBytes >= (this.limits.maxBytes ?? Infinity) || this.activeEvents >= (this.limits.maxEvents ?? Infinity)) {
        // a failed rotation (a full disk) leaves the file active; the next group tries again
        if (await this.rotateNow().then(() => true, () => false)) this.limits.onFull?.()
      }
    }
  }

  /** Events and bytes in the file being appended to. */
  get active(): { events: number; bytes: number; ageMs: number } {
    return { events: this.activeEvents, bytes: this.activeBytes, ageMs: this.activeEvents === 0 ? 0 : Date.now() - this.activeSince }
  }

  /**
   * Closed files awaiting the sealer, oldest first: those older than the active file. A newer
   * one is being opened by a rotation (it exists before it becomes the active file): listed as
   * pending, the sealer found it empty and deleted it, and the acknowledged events then written
   * to it were lost.
   */
  pendingFiles(): string[] {
    const active = basename(this.activePath)
    return this.files().filter((f) => f < active).map((f) => join(this.dir, f))
  }

  /** Bytes acknowledged but not yet in the store: closed files and the active one. */
  get unsealedBytes(): number {
    return this.closedBytes + this.activeBytes
  }

  /** Closes the active file (if it holds anything) so the sealer can take it; appends go to a new one. */
  rotate(): Promise<void> {
    return this.onLane(() => this.rotateNow())
  }

  private async rotateNow(): Promise<void> {
    if (this.activeEvents === 0) return
    const old = this.handle!
    const oldBytes = this.activeBytes
    await this.startFile()
    this.closedBytes += oldBytes
    await old.close()
  }

  /** A sealed file's events are in the store: forget them. */
  remove(path: string): void {
    try {
      this.closedBytes -= statSync(path).size
    } catch {
      // already gone
    }
    rmSync(path, { force: true })
    fsyncPath(this.dir)
  }

  close(): Promise<void> {
    return this.onLane(async () => {
      await this.handle?.close()
      this.handle = undefined
      // an empty active file carries nothing
      if (this.activeEvents === 0) rmSync(this.activePath, { force: true })
    })
  }
}

/**
 * `<prefix><line>\n` for each line, encoded straight into one buffer. Joining them into one
 * string first made a ~1 MB string per request, allocated where V8 keeps large objects: it
 * counted towards the old generation and brought its collections on (one every ~150 ms under
 * load, measured with --trace-gc).
 */
function encodeLines(prefix: string, lines: readonly string[]): Buffer {
  const prefixBytes = Buffer.byteLength(prefix)
  let size = 0
  for (const line of lines) size += prefixBytes + Buffer.byteLength(line) + 1
  const data = Buffer.allocUnsafe(size)
  let at = 0
  for (const line of lines) {
    at += data.write(prefix, at)
    at += data.write(line, at)
    data[at++] = 10
  }
  return data
}

/** The WAL files in `dir`, oldest first (the last one is being written while a WAL is open). */
export function walFileNames(dir: string): string[] {
  return readdirSync(dir).filter((f) => /^\d+\.wal$/.test(f)).sort()
}

/** readWalFile without blocking the event loop on the read. */
export async function readWalFileAsync(path: string): Promise<Map<string, RawEvent[]>> {
  return walEvents(path, await readFile(path, 'utf8'))
}

/** The events of one WAL file by cluster, in order; a torn last line is skipped. */
export function readWalFile(path: string): Map<string, RawEvent[]> {
  return walEvents(path, readFileSync(path, 'utf8'))
}

function walEvents(path: string, text: string): Map<string, RawEvent[]> {
  const byCluster = new Map<string, RawEvent[]>()
  let line = 0
  let start = 0
  for (;;) {
    const end = text.indexOf('\n', start)
    if (end < 0) break
    line++
    const tab = text.indexOf('\t', start)
    if (tab > start && tab < end) {
      const cluster = text.slice(start, tab)
      let list = byCluster.get(cluster)
      if (!list) byCluster.set(cluster, (list = []))
      list.push({ json: jsonOfStoreLine(text.slice(tab + 1, end)), file: path, line })
    }
    start = end + 1
  }
  return byCluster
}
