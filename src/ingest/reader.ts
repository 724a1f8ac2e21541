/**
 * @module `readAuditLog`: audit events from a log backend file (NDJSON, plain or gzip), webhook
 * `EventList` bodies (one per line, or one pretty-printed document), the legacy text format,
 * or stdin. Events come in batches; a malformed line is reported as `file:line: reason` and
 * never costs its neighbours.
 */
import type { Readable } from 'node:stream'
import { previewJson, stringifyJson } from '../core/json.js'
import { API_VERSION, goJson, LEVELS, STAGES, type AuditEvent, type FieldProblem } from '../model/index.js'
import { checkAuditEvent } from '../model/check.js'
import { AuditRecord, parseFull, parseHead, type HeadParse, type RawEvent } from './record.js'
import { looksLikeLegacyLine, parseLegacyLine } from './legacy.js'
import { EVENT_LIST_PREFIX, openByteSource, splitLines, type ByteRange } from './source.js'

export interface MalformedLine {
  file: string
  line: number
  reason: string
}

export function formatMalformed(m: MalformedLine): string {
  return `${m.file}:${m.line}: ${m.reason}`
}

export interface ReadOptions {
  stdin?: Readable
  /** `head` leaves the request/response bodies and the annotations unparsed until asked for (default `full`). */
  mode?: 'full' | 'head'
  onMalformed?: (m: MalformedLine) => void
  /** Read only this byte range of a plain file (line numbers are then relative to it). */
  range?: ByteRange
  /** Lines longer than this are reported and skipped (default `MAX_LINE_BYTES`, 256 MiB). */
  maxLineBytes?: number
  /** Called at the end with the number of lines read. */
  onEnd?: (lines: number) => void
}

/** A pretty-printed JSON document (a webhook body saved with indentation) is read whole, up to this size. */
const MAX_DOCUMENT_BYTES = 512 << 20

function shorten(s: string, max = 160): string {
  return s.length > max ? `${s.slice(0, max)}…` : s
}

/** Turns a schema problem into words a user recognises. */
export function describeProblem(value: unknown, p: FieldProblem): string {
  const actual = p.field.split(/[.[\]]/).filter(Boolean).reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value)
  if (p.message === 'Expected required property') return `missing field ${p.field}`
  if (/'StringMap'/.test(p.message)) return `${p.field}: must map names to strings (got ${previewJson(actual, 40)})`
  if (/StringListMap/.test(p.message)) return `${p.field}: must map names to lists of strings (got ${previewJson(actual, 40)})`
  if (/'audit-time'/.test(p.message)) return `${p.field}: not an RFC 3339 time in UTC, YYYY-MM-DDTHH:MM:SS[.ffffff]Z (got ${previewJson(actual, 40)})`
  if (p.field === 'level') return `level: must be one of ${LEVELS.join(', ')} (got ${previewJson(actual, 40)})`
  if (p.field === 'stage') return `stage: must be one of ${STAGES.join(', ')} (got ${previewJson(actual, 40)})`
  return `${p.field}: ${p.message.toLowerCase()} (got ${previewJson(actual, 40)})`
}

function isEventListLike(v: unknown): v is { kind: 'EventList'; items: unknown } {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'EventList'
}

function eventListLineBytes(item: AuditEvent): number {
  // as the log backend would write it: with kind/apiVersion first
  const withKind = { kind: 'Event', apiVersion: item.apiVersion ?? API_VERSION, ...item }
  return Buffer.byteLength(goJson(withKind))
}

class LineDecoder {
  documentLines: string[] | undefined
  documentStart = 0
  documentBytes = 0
  seenContent = true

  constructor(
    private readonly file: string,
    private readonly head: boolean,
    private readonly report: (line: number, reason: string) => void,
  ) {
    this.seenContent = false
  }

  /** Appends the records of one line to `out`. */
  decode(text: string, lineNo: number, ascii: boolean, unterminated: boolean, out: AuditRecord[]): void {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text
    if (this.documentLines) {
      this.documentBytes += line.length + 1
      if (this.documentBytes > MAX_DOCUMENT_BYTES) {
        this.report(this.documentStart, `JSON document larger than ${MAX_DOCUMENT_BYTES >> 20} MiB: skipped`)
        this.documentLines = undefined
        return
      }
      this.documentLines.push(line)
      return
    }
    if (line.trim() === '') return
    const first = this.seenContent === false
    this.seenContent = true
    const c = line.charCodeAt(0)
    if (c === 0x7b /* { */ || c === 0x5b /* [ */ || c === 0x20 || c === 0x09) {
      let parsed: HeadParse
      try {
        parsed = this.head ? parseHead(line) : parseFull(line)
      } catch (error) {
        const opening = line.trim()
        if (first && (opening === '{' || opening === '[')) {
          // the start of a pretty-printed document: read it whole
          this.documentLines = [line]
          this.documentStart = lineNo
          this.documentBytes = line.length
          return
        }
        const why = unterminated ? 'truncated line (no newline at end of file)' : `invalid JSON: ${shorten((error as Error).message, 100)}`
        this.report(lineNo, why)
        return
      }
      this.fromJson(parsed, line, lineNo, ascii, out)
      return
    }
    if (looksLikeLegacyLine(line)) {
      const ev = parseLegacyLine(line)
      if (typeof ev === 'string') this.report(lineNo, `legacy format: ${ev}`)
      else out.push(new AuditRecord(ev, this.file, lineNo, eventListLineBytes(ev), 0, 0, true, undefined))
      return
    }
    this.report(lineNo, unterminated ? 'truncated line (no newline at end of file)' : `not an audit event: expected a JSON object or a legacy-format line, got "${shorten(line, 40)}"`)
  }

  private fromJson(parsed: HeadParse, line: string, lineNo: number, ascii: boolean, out: AuditRecord[]): void {
    const value = parsed.value
    if (isEventListLike(value)) {
      this.fromEventList(value, lineNo, out)
      return
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => this.pushItem(item, lineNo, `[${i}]`, out))
      return
    }
    const problem = checkAuditEvent(value)
    if (problem) {
      this.report(lineNo, describeProblem(value, problem))
      return
    }
    const bytes = ascii ? line.length : Buffer.byteLength(line)
    let reqBytes = parsed.requestObjectChars
    let respBytes = parsed.responseObjectChars
    if (!ascii && parsed.bodiesStart >= 0) {
      const respStart = parsed.bodiesStart + reqBytes
      reqBytes = Buffer.byteLength(line.slice(parsed.bodiesStart, respStart))
      respBytes = Buffer.byteLength(line.slice(respStart, respStart + respBytes))
    }
    out.push(new AuditRecord(value as AuditEvent, this.file, lineNo, bytes, reqBytes, respBytes, false, parsed.raw))
  }

  private fromEventList(list: { items: unknown }, lineNo: number, out: AuditRecord[]): void {
    if (!Array.isArray(list.items)) {
      this.report(lineNo, 'EventList without an items list')
      return
    }
    list.items.forEach((item, i) => this.pushItem(item, lineNo, `items[${i}]`, out))
  }

  private pushItem(item: unknown, lineNo: number, where: string, out: AuditRecord[]): void {
    const problem = checkAuditEvent(item)
    if (problem) {
      this.report(lineNo, `${where}: ${describeProblem(item, problem)}`)
      return
    }
    const ev = item as AuditEvent
    const bytes = eventListLineBytes(ev)
    const req = ev.requestObject === undefined ? 0 : Buffer.byteLength(goJson(ev.requestObject)) + 17
    const resp = ev.responseObject === undefined ? 0 : Buffer.byteLength(goJson(ev.responseObject)) + 18
    out.push(new AuditRecord(ev, this.file, lineNo, bytes, req, resp, false, undefined))
  }

  /** Called at the end of the input: a buffered pretty-printed document is parsed now. */
  finish(out: AuditRecord[]): void {
    if (!this.documentLines) return
    const text = this.documentLines.join('\n')
    this.documentLines = undefined
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      // not one document after all: read the lines one by one, so nothing is lost
      const lines = text.split('\n')
      lines.forEach((l, i) => this.decode(l, this.documentStart + i, false, false, out))
      return
    }
    this.fromJson({ value, raw: undefined, bodiesStart: -1, requestObjectChars: 0, responseObjectChars: 0 }, stringifyJson(value), this.documentStart, false, out)
  }
}

/** Reads one log (a path, or `-` for stdin) as batches of records. */
export async function* readAuditLog(path: string, options: ReadOptions = {}): AsyncGenerator<AuditRecord[]> {
  const source = await openByteSource(path, options.stdin, options.range)
  const report = (line: number, reason: string) => options.onMalformed?.({ file: source.name, line, reason })
  const decoder = new LineDecoder(source.name, options.mode === 'head', report)
  let unterminatedLine = -1
  let lines = 0
  const batches = splitLines(source.stream, (p) => report(p.line, p.reason), (line) => (unterminatedLine = line), options.maxLineBytes)
  for await (const batch of batches) {
    const out: AuditRecord[] = []
    const { firstLine, ascii } = batch
    const text = batch.lines
    for (let i = 0; i < text.length; i++) {
      const lineNo = firstLine + i
      decoder.decode(text[i]!, lineNo, ascii, lineNo === unterminatedLine, out)
    }
    lines = firstLine + text.length - 1
    if (out.length > 0) yield out
  }
  const rest: AuditRecord[] = []
  decoder.finish(rest)
  if (rest.length > 0) yield rest
  options.onEnd?.(lines)
}

/** Reads several logs one after another. */
export async function* readAuditLogs(paths: readonly string[], options: ReadOptions = {}): AsyncGenerator<AuditRecord[]> {
  for (const p of paths) yield* readAuditLog(p, options)
}

/** Every record of a (small) log, and the malformed lines: for tests and small inputs. */
export async function readAuditLogAll(path: string, options: Omit<ReadOptions, 'onMalformed'> = {}): Promise<{ records: AuditRecord[]; malformed: MalformedLine[] }> {
  const records: AuditRecord[] = []
  const malformed: MalformedLine[] = []
  for await (const batch of readAuditLog(path, { ...options, onMalformed: (m) => malformed.push(m) })) records.push(...batch)
  return { records, malformed }
}


/**
 * Events as JSON text, for storing them exactly as recorded: a log line that is an event is
 * passed on without being parsed (the store validates it); EventList bodies and legacy lines
 * are decoded and re-encoded as Go would. Malformed lines of those formats are reported here.
 */
export async function* readRawEvents(path: string, options: Omit<ReadOptions, 'mode'> = {}): AsyncGenerator<RawEvent[]> {
  const source = await openByteSource(path, options.stdin, options.range)
  const report = (line: number, reason: string) => options.onMalformed?.({ file: source.name, line, reason })
  const decoder = new LineDecoder(source.name, false, report)
  let unterminatedLine = -1
  let lines = 0
  const batches = splitLines(source.stream, (p) => report(p.line, p.reason), (line) => (unterminatedLine = line), options.maxLineBytes)
  const decoded: AuditRecord[] = []
  for await (const batch of batches) {
    const out: RawEvent[] = []
    const text = batch.lines
    for (let i = 0; i < text.length; i++) {
      const lineNo = batch.firstLine + i
      let line = text[i]!
      if (line.endsWith('\r')) line = line.slice(0, -1)
      const plainEvent = line.charCodeAt(0) === 0x7b && line.charCodeAt(line.length - 1) === 0x7d && !EVENT_LIST_PREFIX.test(line) && !decoder.documentLines
      if (plainEvent && lineNo !== unterminatedLine) {
        decoder.seenContent = true
        out.push({ json: line, file: source.name, line: lineNo })
        continue
      }
      decoder.decode(line, lineNo, batch.ascii, lineNo === unterminatedLine, decoded)
      for (const r of decoded) out.push({ json: goJson(r.fullEvent()), file: source.name, line: r.line })
      decoded.length = 0
    }
    lines = batch.firstLine + text.length - 1
    if (out.length > 0) yield out
  }
  decoder.finish(decoded)
  if (decoded.length > 0) yield decoded.map((r) => ({ json: goJson(r.fullEvent()), file: source.name, line: r.line }))
  options.onEnd?.(lines)
}
