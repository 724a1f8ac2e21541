/**
 * @module One event read from a log, with its bodies (and annotations) parsed only when asked for.
 *
 * The apiserver's JSON encoder writes an Event's top-level fields in a fixed order, with the
 * two potentially huge bodies (`requestObject`, `responseObject`) together just before the
 * timestamps. "Head" parsing cuts that span out and parses the rest: most commands never look
 * inside a body, and bodies are most of the bytes. The cut is only trusted when both pieces
 * parse as complete JSON objects (which can only happen at the top level); any other line is
 * parsed whole, so the result is always exact.
 */
import type { AuditEvent } from '../model/index.js'

const REQUEST_KEY = ',"requestObject":'
const RESPONSE_KEY = ',"responseObject":'
const TAIL_KEY = ',"requestReceivedTimestamp":'
const ANNOTATIONS_KEY = ',"annotations":'

export type BodyField = 'requestObject' | 'responseObject'

/** One event as text, exactly as recorded, with where it came from (`mode: 'raw'`). */
export interface RawEvent {
  json: string
  file: string
  line: number
}

export class AuditRecord {
  constructor(
    /** The event; in head mode without `requestObject`/`responseObject`/`annotations`. */
    readonly event: AuditEvent,
    readonly file: string,
    /** 1-based line of the event (of its EventList document for webhook bodies). */
    readonly line: number,
    /** Size of the event as one log-backend line, in bytes, without the newline. */
    readonly bytes: number,
    /** Bytes `,"requestObject":<value>` takes in that line; 0 when absent. */
    readonly requestObjectBytes: number,
    /** Bytes `,"responseObject":<value>` takes in that line; 0 when absent. */
    readonly responseObjectBytes: number,
    /** Rebuilt from the legacy text format (no level, no bodies). */
    readonly legacy: boolean,
    /** The raw line when the bodies were left unparsed. */
    private readonly raw: string | undefined,
  ) {}

  /** True when `event` lacks bodies that the line has. */
  get isHead(): boolean {
    return this.raw !== undefined
  }

  /** The whole event, bodies included. */
  fullEvent(): AuditEvent {
    return this.raw === undefined ? this.event : (JSON.parse(this.raw) as AuditEvent)
  }

  body(which: BodyField): unknown {
    return this.raw === undefined ? this.event[which] : this.fullEvent()[which]
  }
}

export interface HeadParse {
  value: unknown
  /** Present when the bodies were cut out: the raw line to parse them from later. */
  raw: string | undefined
  requestObjectChars: number
  responseObjectChars: number
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Parses everything but the bodies and the annotations (the last field); falls back to a full
 * parse whenever a cut is not certain.
 */
export function parseHead(line: string): HeadParse {
  const req = line.indexOf(REQUEST_KEY)
  const resp = line.indexOf(RESPONSE_KEY, req < 0 ? 0 : req)
  const cut = req >= 0 ? req : resp
  // annotations come last: the last occurrence is the top-level one when there is one
  const ann = line.lastIndexOf(ANNOTATIONS_KEY)
  const end = ann > 0 ? ann : line.length - 1
  if (cut < 0) {
    if (ann < 0) return parseFull(line)
    const meta = tryObject(line.slice(0, ann) + '}')
    return meta ? { value: meta, raw: line, requestObjectChars: 0, responseObjectChars: 0 } : parseFull(line)
  }
  const tail = line.lastIndexOf(TAIL_KEY)
  if (tail < cut || end < tail) return parseFull(line)
  const head = tryObject(line.slice(0, cut) + '}')
  const rest = head && tryObject('{' + line.slice(tail + 1, end) + '}')
  if (!head || !rest) return parseFull(line)
  const respStart = resp >= 0 ? resp : tail
  return {
    value: Object.assign(head, rest),
    raw: line,
    requestObjectChars: req >= 0 ? respStart - req : 0,
    responseObjectChars: resp >= 0 ? tail - resp : 0,
  }
}

function tryObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown
    return isPlainObject(v) ? v : undefined
  } catch {
    return undefined
  }
}

/** A plain JSON.parse; body sizes measured from the parsed values' positions in the line. */
export function parseFull(line: string): HeadParse {
  const value = JSON.parse(line) as unknown
  let requestObjectChars = 0
  let responseObjectChars = 0
  if (isPlainObject(value) && (value['requestObject'] !== undefined || value['responseObject'] !== undefined)) {
    const req = line.indexOf(REQUEST_KEY)
    const resp = line.indexOf(RESPONSE_KEY, req < 0 ? 0 : req)
    const tail = line.lastIndexOf(TAIL_KEY)
    const end = tail > Math.max(req, resp) ? tail : line.length - 1
    if (req >= 0) requestObjectChars = (resp >= 0 ? resp : end) - req
    if (resp >= 0) responseObjectChars = end - resp
  }
  return { value, raw: undefined, requestObjectChars, responseObjectChars }
}
