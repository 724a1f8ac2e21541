/**
 * @module Follows the log backend's file (`--audit-log-path`) across rotation, like `tail -F`
 * that never loses a line:
 *
 * - rename-then-create (lumberjack, the apiserver's rotation): the old file is finished from the
 *   checkpointed offset, found by inode, or by a fingerprint of its head once it was gzipped;
 *   backups rotated while kubetrail was down are read too, oldest first;
 * - copy-truncate (logrotate): the copy is found by fingerprint and finished, then the file is
 *   read from its start;
 * - a restart resumes from a durable checkpoint (file identity + offset), written only after the
 *   events up to that offset are durable in the WAL. A crash in between re-reads a few lines; the
 *   store drops the repeats.
 *
 * A last line without its newline is being written: it is waited for, never parsed.
 *
 * Never stuck on a line: a line longer than `maxLineBytes` is reported (file:line, the reason, a
 * metric) and passed; a chunk the collector fails on for a reason other than "busy" (which
 * clears by itself and is retried) is ingested line by line, and the line that fails is
 * reported and passed. Failing polls make /readyz say so (`Collector.followerFailing`).
 */
import { createHash } from 'node:crypto'
import { closeSync, createReadStream, existsSync, type ReadStream, fsyncSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, writeFileSync, type Stats } from 'node:fs'
import { basename, dirname, extname, join } from 'node:path'
import { constants as zlibConstants, createGunzip, gunzipSync } from 'node:zlib'
import { rotationOrder, splitLines } from '../ingest/index.js'
import { CollectorBusyError, type Collector } from './collector.js'
import type { DecodedItem } from './pipeline.js'

export interface FollowSpec {
  path: string
  cluster: string
}

interface Checkpoint {
  ino: number
  dev: number
  offset: number
  /** Lines before `offset` (for file:line in reports). */
  line: number
  /** SHA-256 (hex) of the first `fingerprintBytes` bytes: identifies the file after rename or gzip. */
  fingerprint: string
  fingerprintBytes: number
  /** The newest backup when this file became the live one: backups after it were rotated later. */
  previousBackup?: string
}

const STAMP = /-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\./

const FINGERPRINT_MAX = 4096
const CHUNK_LINES = 2000
const CHUNK_BYTES = 8 * 1024 * 1024
/** Polls that fail in a row before /readyz says the follower is failing (one can be a rotation caught midway). */
const FAILURES_BEFORE_UNREADY = 3

export interface FollowerOptions {
  /** Where checkpoints live (`<data-dir>/follow-checkpoints.json`). */
  checkpointPath: string
  pollMs?: number
  /** Without a checkpoint: read the file from its start (default) or only what is appended from now on. */
  from?: 'start' | 'end'
  log?: (line: string) => void
  /** Longer lines are reported and passed (default 32 MiB, as `serve --max-body`). */
  maxLineBytes?: number
}

export class Follower {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly spec: FollowSpec,
    private readonly collector: Collector,
    private readonly options: FollowerOptions,
  ) {}

  start(): void {
    this.tick()
  }

  private failures = 0

  private tick(): void {
    if (this.stopped) return
    this.running = this.poll()
      .then(() => {
        this.failures = 0
        this.collector.followerFailing(this.spec.path, undefined)
      })
      .catch((error: unknown) => {
        const message = (error as Error).message
        if (this.failures === 0 || this.failures % 100 === 0) this.options.log?.(`follow ${this.spec.path}: ${message} (will retry)`)
        if (++this.failures >= FAILURES_BEFORE_UNREADY) this.collector.followerFailing(this.spec.path, message)
      })
      .finally(() => {
        this.running = undefined
        if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.options.pollMs ?? 250)
      })
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    while (this.running) await this.running
  }

  /** One pass: catch up on rotation, then read what was appended. Exposed for tests. */
  async poll(): Promise<void> {
    const { path } = this.spec
    if (!existsSync(path)) return
    const st = statSync(path)
    // this follower is the only writer of its entry: the file is read once, at the first poll
    let cp = (this.checkpoint ??= readCheckpoints(this.options.checkpointPath, this.options.log)[path])
    if (!cp) {
      const previousBackup = this.backups().at(-1)
      cp = this.options.from === 'end'
        ? { ino: st.ino, dev: st.dev, offset: st.size, line: countLines(path, st.size), ...fingerprintOf(path, st.size), previousBackup }
        : { ino: st.ino, dev: st.dev, offset: 0, line: 0, fingerprint: '', fingerprintBytes: 0, previousBackup }
      this.save(cp)
    }
    // The same file only if inode *and* head agree: a rotated-away file's inode is reused.
    const same = st.ino === cp.ino && st.dev === cp.dev && st.size >= cp.offset && (cp.fingerprintBytes === 0 || fingerprintOf(path, cp.fingerprintBytes).fingerprint === cp.fingerprint)
    if (!same) {
      const newest = await this.finishPrevious(cp)
      cp = { ino: st.ino, dev: st.dev, offset: 0, line: 0, fingerprint: '', fingerprintBytes: 0, previousBackup: newest }
      this.save(cp)
    }
    await this.readLive(cp)
  }

  /**
   * Backups next to the followed file, oldest first: lumberjack's `audit-<time>.log[.gz]` by
   * the time in the name, others (`audit.log.1`, logrotate) by modification time.
   */
  private backups(): string[] {
    const dir = dirname(this.spec.path)
    const base = basename(this.spec.path)
    const stem = base.slice(0, base.length - extname(base).length)
    const files = readdirSync(dir)
      .filter((f) => f !== base && (f.startsWith(`${stem}-`) || f.startsWith(`${base}.`)) && !f.endsWith('.tmp'))
      .map((f) => join(dir, f))
    const stamped = rotationOrder(files.filter((f) => STAMP.test(basename(f))))
    const other = files.filter((f) => !STAMP.test(basename(f))).sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
    return [...stamped, ...other]
  }

  /**
   * The checkpointed file is no longer at the path (renamed, gzipped, or copied and truncated):
   * finish it from the offset, then read every backup rotated after it. Returns the newest backup.
   */
  private async finishPrevious(cp: Checkpoint): Promise<string | undefined> {
    const backups = this.backups()
    const index = backups.findIndex((f) => isCheckpointed(f, cp))
    if (index >= 0) {
      await this.readWhole(backups[index]!, cp.offset, cp.line)
      for (const later of backups.slice(index + 1)) await this.readWhole(later, 0, 0)
      return backups.at(-1)
    }
    if (cp.offset > 0) this.options.log?.(`follow ${this.spec.path}: the file read up to offset ${cp.offset} is gone (rotated and removed?); reading the backups made after it`)
    // Nothing identifies the file (it was empty when last seen): every backup newer than the one
    // that preceded it was written after the checkpoint.
    const after = cp.previousBackup ? backups.indexOf(cp.previousBackup) + 1 : 0
    for (const later of backups.slice(after)) await this.readWhole(later, 0, 0)
    return backups.at(-1)
  }

  /** A finished file (plain or gzip) from `offset` to its end; a torn last line is still an event there. */
  private async readWhole(file: string, offset: number, firstLine: number): Promise<void> {
    let stream: AsyncIterable<Buffer> = createReadStream(file)
    if (isGzipFile(file)) stream = (stream as ReadStream).pipe(createGunzip())
    // split on bytes (a character cut between two chunks stays whole); a truncated gzip file and an
    // over-long line are reported, and the lines around them read
    const at = (n: number) => `${file}:${firstLine + n}`
    const lines = splitLines(skipBytes(stream, offset), (p) => this.malformed(at(p.line), p.reason), undefined, this.maxLineBytes)
    let batch: DecodedItem[] = []
    for await (const { lines: text, firstLine: n } of lines) {
      text.forEach((l, i) => {
        if (l.trim() !== '') batch.push(lineItem(l, at(n + i)))
      })
      if (batch.length >= CHUNK_LINES) {
        await this.ingest(batch)
        batch = []
      }
    }
    await this.ingest(batch)
  }

  private get maxLineBytes(): number {
    return this.options.maxLineBytes ?? 32 * 1024 * 1024
  }

  /** The live file from the checkpoint: complete lines only, checkpoint after each durable chunk. */
  private async readLive(cp: Checkpoint): Promise<void> {
    const { path } = this.spec
    const size = statSync(path).size
    const labels = { cluster: this.spec.cluster, path }
    const fd = openSync(path, 'r')
    try {
      let offset = cp.offset
      let line = cp.line
      while (offset < size) {
        const want = Math.min(size - offset, CHUNK_BYTES)
        const buf = Buffer.allocUnsafe(want)
        const got = readSync(fd, buf, 0, want, offset)
        const lastNewline = buf.subarray(0, got).lastIndexOf(0x0a)
        if (lastNewline < 0) {
          // one line longer than a chunk
          const end = nextNewline(fd, offset + got, size)
          if (end < 0) break // still being written: wait for the rest
          line++
          await this.ingest(await this.longLine(fd, offset, end - offset, `${path}:${line}`))
          offset = end + 1
        } else {
          const text = buf.subarray(0, lastNewline).toString('utf8')
          const items: DecodedItem[] = []
          for (const l of text.split('\n')) {
            line++
            if (l.trim() === '') continue
            const bytes = l.length > this.maxLineBytes / 3 ? Buffer.byteLength(l) : l.length
            if (bytes > this.maxLineBytes) this.malformed(`${path}:${line}`, tooLong(bytes, this.maxLineBytes))
            else items.push(lineItem(l, `${path}:${line}`))
          }
          await this.ingest(items)
          offset += lastNewline + 1
        }
        const fp = cp.fingerprintBytes >= FINGERPRINT_MAX ? cp : fingerprintOf(path, Math.min(offset, FINGERPRINT_MAX))
        cp = { ...cp, offset, line, fingerprint: fp.fingerprint, fingerprintBytes: fp.fingerprintBytes }
        this.save(cp)
      }
      const now = statSync(path)
      this.collector.metrics.followerLagBytes.set(labels, Math.max(0, now.size - cp.offset))
      this.collector.metrics.followerLagSeconds.set(labels, now.size > cp.offset ? Math.max(0, (Date.now() - now.mtimeMs) / 1000) : 0)
    } finally {
      closeSync(fd)
    }
  }

  /** A line of `length` bytes at `offset`: read when within maxLineBytes, else reported and passed (no items). */
  private async longLine(fd: number, offset: number, length: number, at: string): Promise<DecodedItem[]> {
    const max = this.maxLineBytes
    if (length > max) {
      this.malformed(at, tooLong(length, max))
      return []
    }
    const buf = Buffer.allocUnsafe(length)
    readSync(fd, buf, 0, length, offset)
    return [lineItem(buf.toString('utf8'), at)]
  }

  /** A line that cannot be stored, for a reason that will not change: reported, counted, passed. */
  private malformed(at: string, reason: string): void {
    this.collector.metrics.rejected.inc({ cluster: this.spec.cluster, source: 'follow' })
    this.options.log?.(`${at}: ${reason}`)
  }

  private async ingest(items: DecodedItem[]): Promise<void> {
    if (items.length === 0) return
    let r
    try {
      r = await this.collector.ingest(this.spec.cluster, 'follow', items)
    } catch (error) {
      // busy clears by itself (the chunk is read again at the next poll); anything else would fail
      // the same way for ever: the line it fails on is found, reported and passed
      if (error instanceof CollectorBusyError || items.length === 1) return this.failedLine(items, error as Error)
      for (const item of items) await this.ingest([item])
      return
    }
    for (const bad of r.rejected.slice(0, 3)) this.options.log?.(`${bad.at}: ${bad.reason}`)
    if (r.rejectedCount > 3) this.options.log?.(`… and ${r.rejectedCount - 3} more malformed line(s) in this chunk`)
  }

  private failedLine(items: DecodedItem[], error: Error): void {
    if (error instanceof CollectorBusyError) throw error
    this.malformed(items[0]!.at, `could not be ingested: ${error.message}`)
  }

  private checkpoint: Checkpoint | undefined

  private save(cp: Checkpoint): void {
    this.checkpoint = cp
    // other followers' entries share the file
    const all = readCheckpoints(this.options.checkpointPath)
    all[this.spec.path] = cp
    writeCheckpoints(this.options.checkpointPath, all)
  }
}

const tooLong = (bytes: number, max: number) => `line of ${bytes} bytes, longer than ${max} (serve --max-body): skipped`

/** The stream without its first `offset` bytes. */
async function* skipBytes(stream: AsyncIterable<Buffer>, offset: number): AsyncGenerator<Buffer> {
  let skipped = 0
  for await (const chunk of stream) {
    if (skipped >= offset) {
      yield chunk
      continue
    }
    const skip = Math.min(offset - skipped, chunk.length)
    skipped += skip
    if (skip < chunk.length) yield chunk.subarray(skip)
  }
}

/** A line as an item parsed when it is processed (a chunk's events are not all alive at once). */
function lineItem(line: string, at: string): DecodedItem {
  return { at, value: undefined, text: line.endsWith('\r') ? line.slice(0, -1) : line, deferred: true }
}

/** The position of the first newline at or after `from` (before `size`), or -1; reads without keeping. */
function nextNewline(fd: number, from: number, size: number): number {
  const buf = Buffer.allocUnsafe(1024 * 1024)
  for (let pos = from; pos < size; ) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos)
    if (got <= 0) return -1
    const i = buf.subarray(0, got).indexOf(0x0a)
    if (i >= 0) return pos + i
    pos += got
  }
  return -1
}

function isGzipFile(file: string): boolean {
  const head = readHead(file, 2)
  return head.length === 2 && head[0] === 0x1f && head[1] === 0x8b
}

function readHead(file: string, bytes: number): Buffer {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(bytes)
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0))
  } finally {
    closeSync(fd)
  }
}

/** The first `bytes` bytes of a file's content (decompressed when gzipped). */
function headOf(file: string, bytes: number): Buffer {
  if (bytes === 0) return Buffer.alloc(0)
  if (!isGzipFile(file)) return readHead(file, bytes)
  try {
    // a prefix of the compressed stream is enough for the first few KB of content
    return gunzipSync(readHead(file, 256 * 1024), { finishFlush: zlibConstants.Z_SYNC_FLUSH }).subarray(0, bytes)
  } catch {
    return Buffer.alloc(0)
  }
}

function fingerprintOf(file: string, bytes: number): { fingerprint: string; fingerprintBytes: number } {
  const head = headOf(file, Math.min(bytes, FINGERPRINT_MAX))
  return { fingerprint: createHash('sha256').update(head).digest('hex'), fingerprintBytes: head.length }
}

/** Is `file` the checkpointed one? Its head when one was read (inodes are reused), else its inode. */
function isCheckpointed(file: string, cp: Checkpoint): boolean {
  let st: Stats
  try {
    st = statSync(file)
  } catch {
    return false
  }
  if (cp.fingerprintBytes > 0) return fingerprintOf(file, cp.fingerprintBytes).fingerprint === cp.fingerprint
  return st.ino === cp.ino && st.dev === cp.dev
}

function countLines(path: string, upTo: number): number {
  let n = 0
  const buf = readHead(path, upTo)
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) n++
  return n
}

/**
 * The checkpoints, or none when the file is unreadable as checkpoints (a torn or edited file):
 * then every followed file is read again from its start (the store drops what it already has)
 * rather than the follower failing on it for ever. Entries of the wrong shape are left out.
 */
function readCheckpoints(path: string, log?: (line: string) => void): Record<string, Checkpoint> {
  if (!existsSync(path)) return {}
  let all: unknown
  try {
    all = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    log?.(`${path}: not readable as checkpoints (${(error as Error).message}): followed files are read again from their start`)
    return {}
  }
  const out: Record<string, Checkpoint> = {}
  if (typeof all !== 'object' || all === null || Array.isArray(all)) return out
  for (const [file, cp] of Object.entries(all)) if (isCheckpoint(cp)) out[file] = cp
  return out
}

function isCheckpoint(v: unknown): v is Checkpoint {
  if (typeof v !== 'object' || v === null) return false
  const c = v as Record<string, unknown>
  const count = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  return count(c['ino']) && count(c['dev']) && count(c['offset']) && count(c['line']) && count(c['fingerprintBytes']) && typeof c['fingerprint'] === 'string' &&
    (c['previousBackup'] === undefined || typeof c['previousBackup'] === 'string')
}

/** Atomically (tmp, fsync, rename): a crash leaves the old or the new checkpoint, never half of one. */
function writeCheckpoints(path: string, all: Record<string, Checkpoint>): void {
  const tmp = `${path}.tmp`
  writeFileSync(tmp, JSON.stringify(all), { mode: 0o600 })
  const fd = openSync(tmp, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}
