/**
 * @module Byte sources (files, gzip files, stdin) and a fast line splitter over them.
 *
 * Lines are split on raw buffers (one `toString` per chunk, not per line) and handed out in
 * batches, which is what makes reading faster than `readline`. Memory is bounded by the chunk
 * size and the longest line, whatever the file size.
 */
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { createGunzip } from 'node:zlib'
import { Readable } from 'node:stream'
import { isAscii } from 'node:buffer'
import { FileNotFoundError, FileReadError, KubetrailError } from '../core/errors.js'

const CHUNK_BYTES = 1 << 20
/**
 * Longer lines are reported and skipped instead of growing memory without bound. Generous on
 * purpose: the log backend does not truncate by default, and a RequestResponse-level `list` of a
 * big cluster is one event of many megabytes that must still be read.
 */
export const MAX_LINE_BYTES = 256 << 20

function describeSize(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes >> 20} MiB` : `${bytes} bytes`
}

const GZIP_MAGIC_0 = 0x1f
const GZIP_MAGIC_1 = 0x8b

export interface ByteSource {
  name: string
  stream: AsyncIterable<Buffer>
}

async function sniffFile(path: string): Promise<boolean> {
  let handle
  try {
    handle = await open(path, 'r')
    const st = await handle.stat()
    if (st.isDirectory()) throw new KubetrailError('KT_INPUT_IS_DIRECTORY', `${path} is a directory, not an audit log`, { hint: 'Pass the log files themselves, e.g. dir/audit*.log*' })
    const buf = Buffer.alloc(2)
    const { bytesRead } = await handle.read(buf, 0, 2, 0)
    return bytesRead === 2 && buf[0] === GZIP_MAGIC_0 && buf[1] === GZIP_MAGIC_1
  } catch (error) {
    if (error instanceof KubetrailError) throw error
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileNotFoundError(path, 'audit log')
    throw new FileReadError(path, error)
  } finally {
    await handle?.close()
  }
}

/** Re-yields the first chunk after peeking at it. */
async function* prepend(first: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield first
  for (;;) {
    const next = await rest.next()
    if (next.done) return
    yield next.value
  }
}

async function stdinSource(stdin: Readable): Promise<ByteSource> {
  const it = (stdin as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  const first = await it.next()
  if (first.done) return { name: '<stdin>', stream: (async function* () {})() }
  const chunk = Buffer.isBuffer(first.value) ? first.value : Buffer.from(first.value as string)
  const raw = prepend(chunk, it)
  const gz = chunk[0] === GZIP_MAGIC_0 && chunk[1] === GZIP_MAGIC_1
  return { name: '<stdin>', stream: gz ? Readable.from(raw).pipe(createGunzip({ chunkSize: CHUNK_BYTES })) : raw }
}

/** A byte range of a plain file; both ends must be line starts (see `splitIntoLineRanges`). */
export interface ByteRange {
  start: number
  end: number
}

/** Opens a log file (gzip detected by its magic bytes, not its name) or `-` for stdin. */
export async function openByteSource(path: string, stdin?: Readable, range?: ByteRange): Promise<ByteSource> {
  if (path === '-') return stdinSource(stdin ?? process.stdin)
  if (range) return { name: path, stream: createReadStream(path, { highWaterMark: CHUNK_BYTES, start: range.start, end: range.end - 1 }) }
  const gz = await sniffFile(path)
  const file = createReadStream(path, { highWaterMark: CHUNK_BYTES })
  return { name: path, stream: gz ? file.pipe(createGunzip({ chunkSize: CHUNK_BYTES })) : file }
}

export interface LineBatch {
  lines: string[]
  /** 1-based number of `lines[0]`. */
  firstLine: number
  /** True when every line of the batch is ASCII (so a line's bytes = its length). */
  ascii: boolean
}

export interface LineProblem {
  line: number
  reason: string
}

/**
 * Yields chunks until the stream ends or breaks (a truncated or corrupt gzip file, a read error):
 * a broken stream is reported once, and what was read before it is kept.
 */
async function* readUntilBroken(stream: AsyncIterable<Buffer>, report: (reason: string) => void): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) yield chunk
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const what = e.code === 'Z_BUF_ERROR' || /unexpected end of file/.test(e.message) ? 'the gzip data ends early (truncated file)' : e.message
    report(`cannot read further: ${what}; the events before this point were read`)
  }
}

export interface SplitResult {
  batches: AsyncGenerator<LineBatch>
}

/**
 * Splits a byte stream into lines. The last line, if it has no newline, is still returned and
 * flagged through `onUnterminated` (a log being written, or cut short by a full disk).
 */
export async function* splitLines(
  stream: AsyncIterable<Buffer>,
  onProblem: (p: LineProblem) => void,
  onUnterminated?: (line: number) => void,
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<LineBatch> {
  // The start of the current line, as chunks: joined once when its newline arrives, so a
  // line spanning many chunks costs one copy, not one per chunk.
  let carry: Buffer[] = []
  let carryBytes = 0
  let lineNo = 1
  let skippingLongLine = false
  for await (const raw of readUntilBroken(stream, (reason) => onProblem({ line: lineNo, reason }))) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array)
    const lastNewline = chunk.lastIndexOf(10)
    if (lastNewline < 0) {
      if (skippingLongLine) continue
      carry.push(chunk)
      carryBytes += chunk.length
      if (carryBytes > maxLineBytes) {
        onProblem({ line: lineNo, reason: `line longer than ${describeSize(maxLineBytes)}: skipped` })
        skippingLongLine = true
        carry = []
        carryBytes = 0
      }
      continue
    }
    const head = carry.length > 0 ? Buffer.concat([...carry, chunk.subarray(0, lastNewline)]) : chunk.subarray(0, lastNewline)
    const rest = lastNewline + 1 < chunk.length ? chunk.subarray(lastNewline + 1) : undefined
    carry = rest ? [rest] : []
    carryBytes = rest ? rest.length : 0
    // Audit logs are nearly always ASCII (Go escapes nothing else, but user data may hold UTF-8):
    // a one-byte decode is several times cheaper than UTF-8 decoding.
    const ascii = isAscii(head)
    const text = head.toString(ascii ? 'latin1' : 'utf8')
    const lines = text.split('\n')
    if (skippingLongLine) {
      // the first "line" is the rest of the over-long line
      lines[0] = ''
      skippingLongLine = false
    }
    const batch: LineBatch = { lines, firstLine: lineNo, ascii }
    lineNo += lines.length
    yield batch
  }
  if (carryBytes > 0 && !skippingLongLine) {
    onUnterminated?.(lineNo)
    const last = Buffer.concat(carry)
    const ascii = isAscii(last)
    yield { lines: [last.toString(ascii ? 'latin1' : 'utf8')], firstLine: lineNo, ascii }
  }
}

/** Whether a file can be read in parallel ranges: a plain (not gzip) NDJSON file. */
export async function isSplittable(path: string): Promise<boolean> {
  if (path === '-') return false
  const handle = await open(path, 'r')
  try {
    const buf = Buffer.alloc(4096)
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0)
    if (bytesRead >= 2 && buf[0] === GZIP_MAGIC_0 && buf[1] === GZIP_MAGIC_1) return false
    const first = buf.subarray(0, bytesRead).toString('latin1').split('\n', 1)[0]!.trim()
    // a pretty-printed document (first line "{" or "[") must be read whole
    return first.startsWith('{') && first !== '{' && first !== '['
  } finally {
    await handle.close()
  }
}

/** Splits a plain file into `parts` byte ranges that start and end at line boundaries. */
export async function splitIntoLineRanges(path: string, parts: number): Promise<ByteRange[]> {
  const handle = await open(path, 'r')
  try {
    const size = (await handle.stat()).size
    const cuts = [0]
    const buf = Buffer.alloc(64 << 10)
    for (let k = 1; k < parts; k++) {
      let pos = Math.max(Math.floor((size * k) / parts), cuts[cuts.length - 1]!)
      let cut = size
      while (pos < size) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, pos)
        if (bytesRead === 0) break
        const nl = buf.subarray(0, bytesRead).indexOf(10)
        if (nl >= 0) {
          cut = pos + nl + 1
          break
        }
        pos += bytesRead
      }
      if (cut > cuts[cuts.length - 1]! && cut < size) cuts.push(cut)
    }
    cuts.push(size)
    return cuts.slice(0, -1).map((start, i) => ({ start, end: cuts[i + 1]! }))
  } finally {
    await handle.close()
  }
}

/** The start of a line that is a webhook EventList body, not an event. */
export const EVENT_LIST_PREFIX = /^\{\s*"(kind|apiVersion)"\s*:\s*"(EventList|audit\.k8s\.io\/v1)"\s*,\s*"(kind|apiVersion)"\s*:\s*"(EventList|audit\.k8s\.io\/v1)"/

/** What a log file looks like from its start, for readers that take plain NDJSON only. */
export interface LogFileShape {
  gzip: boolean
  /**
   * True when its lines are audit events, one JSON object per line (not EventList bodies, the
   * legacy text format or a pretty-printed document), and no CR was seen (a CR ends a line for
   * some line readers): such a file can be read as lines by another reader, e.g. DuckDB's.
   */
  eventLines: boolean
  /** True when the file (plain only) does not end with a newline: its last line may be cut short. */
  unterminated: boolean
}

/** Reads the first ~1 MB of a log (decompressed) to say how it can be read; `-` is stdin, never `eventLines`. */
export async function sniffLogFile(path: string): Promise<LogFileShape> {
  if (path === '-') return { gzip: false, eventLines: false, unterminated: false }
  const gzip = await sniffFile(path)
  const source = await openByteSource(path)
  const parts: Buffer[] = []
  let bytes = 0
  try {
    for await (const chunk of source.stream) {
      parts.push(chunk)
      bytes += chunk.length
      if (bytes >= CHUNK_BYTES) break
    }
  } catch {
    // a broken gzip stream: the JavaScript reader reports it where it breaks
    return { gzip, eventLines: false, unterminated: false }
  } finally {
    ;(source.stream as { destroy?: () => void }).destroy?.()
  }
  const head = Buffer.concat(parts).toString('latin1')
  const first = head.split('\n').find((l) => l.trim() !== '')?.trim() ?? ''
  const eventLines = !head.includes('\r') && first.startsWith('{') && first !== '{' && !EVENT_LIST_PREFIX.test(first)
  let unterminated = false
  if (!gzip) {
    const handle = await open(path, 'r')
    try {
      const size = (await handle.stat()).size
      const last = Buffer.alloc(1)
      unterminated = size > 0 && (await handle.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] !== 10
    } finally {
      await handle.close()
    }
  }
  return { gzip, eventLines, unterminated }
}
