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
 */
import { createHash } from 'node:crypto'
import { closeSync, createReadStream, existsSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, writeFileSync, type Stats } from 'node:fs'
import { basename, dirname, extname, join } from 'node:path'
import { constants as zlibConstants, createGunzip, gunzipSync } from 'node:zlib'
import { rotationOrder } from '../ingest/index.js'
import type { Collector } from './collector.js'

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

export interface FollowerOptions {
  /** Where checkpoints live (`<data-dir>/follow-checkpoints.json`). */
  checkpointPath: string
  pollMs?: number
  /** Without a checkpoint: read the file from its start (default) or only what is appended from now on. */
  from?: 'start' | 'end'
  log?: (line: string) => void
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

  private tick(): void {
    if (this.stopped) return
    this.running = this.poll()
      .catch((error: unknown) => this.options.log?.(`follow ${this.spec.path}: ${(error as Error).message} (will retry)`))
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
    let cp = (this.checkpoint ??= readCheckpoints(this.options.checkpointPath)[path])
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
    let stream: NodeJS.ReadableStream = createReadStream(file)
    if (isGzipFile(file)) stream = stream.pipe(createGunzip())
    let skipped = 0
    let carry = ''
    let line = firstLine
    let batch: Array<{ at: string; value: unknown; parseError?: string }> = []
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = chunk
      if (skipped < offset) {
        const skip = Math.min(offset - skipped, buf.length)
        skipped += skip
        buf = buf.subarray(skip)
        if (buf.length === 0) continue
      }
      const text = carry + buf.toString('utf8')
      const lines = text.split('\n')
      carry = lines.pop()!
      for (const l of lines) {
        line++
        if (l.trim() !== '') batch.push(parseLine(l, `${file}:${line}`))
      }
      if (batch.length >= CHUNK_LINES) {
        await this.ingest(batch)
        batch = []
      }
    }
    if (carry.trim() !== '') batch.push(parseLine(carry, `${file}:${line + 1}`))
    await this.ingest(batch)
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
        const want = Math.min(size - offset, 8 * 1024 * 1024)
        const buf = Buffer.allocUnsafe(want)
        const got = readSync(fd, buf, 0, want, offset)
        const lastNewline = buf.subarray(0, got).lastIndexOf(0x0a)
        if (lastNewline < 0) break // a partial line: wait for the rest
        const text = buf.subarray(0, lastNewline).toString('utf8')
        const items: Array<{ at: string; value: unknown; parseError?: string }> = []
        for (const l of text.split('\n')) {
          line++
          if (l.trim() !== '') items.push(parseLine(l, `${path}:${line}`))
        }
        await this.ingest(items)
        offset += lastNewline + 1
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

  private async ingest(items: Array<{ at: string; value: unknown; parseError?: string }>): Promise<void> {
    if (items.length === 0) return
    const r = await this.collector.ingest(this.spec.cluster, 'follow', items)
    for (const bad of r.rejected.slice(0, 3)) this.options.log?.(`${bad.at}: ${bad.reason}`)
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

function parseLine(line: string, at: string): { at: string; value: unknown; parseError?: string; text?: string } {
  try {
    return { at, value: JSON.parse(line), text: line.endsWith('\r') ? line.slice(0, -1) : line }
  } catch (error) {
    return { at, value: undefined, parseError: `not JSON: ${(error as Error).message}` }
  }
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

function readCheckpoints(path: string): Record<string, Checkpoint> {
  if (!existsSync(path)) return {}
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, Checkpoint>
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
