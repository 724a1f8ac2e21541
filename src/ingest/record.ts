/**
 * @module One event read from a log, with its bodies (and annotations) parsed only when asked for.
 *
 * The apiserver's JSON encoder writes an Event's top-level fields in a fixed order, with the
 * two potentially huge bodies (`requestObject`, `responseObject`) together just before the
 * timestamps. "Head" parsing cuts that span out and parses the rest: most commands never look
 * inside a body, and bodies are most of the bytes. The cut is only trusted when the pieces
 * around it parse as complete JSON objects (which can only happen at the top level) and the
 * skipped spans, followed structurally, hold exactly the skipped fields (so no top-level key can
 * hide in them); any other line is parsed whole. For every line that parses, head mode gives
 * the same event as a full parse. (A line whose only fault is inside a body passes in head mode;
 * `fullEvent()` then throws.)
 */
import type { AuditEvent } from '../model/index.js'
import { isJsonObject } from '../core/json.js'

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
    /** The raw line when the bodies (or annotations) were left unparsed (head mode), else undefined. */
    readonly raw: string | undefined,
  ) {}

  /** Whether the event has a `requestObject` (parsed or not). */
  get hasRequestObject(): boolean {
    return this.event.requestObject !== undefined || (this.raw !== undefined && this.requestObjectBytes > 0)
  }

  /** Whether the event has a `responseObject` (parsed or not). */
  get hasResponseObject(): boolean {
    return this.event.responseObject !== undefined || (this.raw !== undefined && this.responseObjectBytes > 0)
  }

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
  /** Where `,"requestObject":` (or `,"responseObject":` when there is no request body) starts; -1 without bodies. */
  bodiesStart: number
  requestObjectChars: number
  responseObjectChars: number
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const COMMA = 0x2c

/**
 * Index just past the JSON value that starts at `i` (a scalar ends at the next `,` or `}`), or
 * -1. Only the structure is followed (strings, nesting), not the grammar: enough to know where a
 * skipped value ends, so that no top-level key can hide inside a span that is left unparsed.
 * Strings are jumped over with `indexOf`, which keeps this several times faster than parsing.
 */
export function skipJsonValue(s: string, start: number): number {
  let depth = 0
  let i = start
  const n = s.length
  while (i < n) {
    const c = s.charCodeAt(i)
    if (c === QUOTE) {
      let close = s.indexOf('"', i + 1)
      for (;;) {
        if (close < 0) return -1
        let k = close - 1
        while (s.charCodeAt(k) === BACKSLASH) k--
        if ((close - 1 - k) % 2 === 0) break // an even run of backslashes: the quote is real
        close = s.indexOf('"', close + 1)
      }
      i = close + 1
      if (depth === 0) return i
      continue
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth === 0) return i > start ? i : -1 // the end of a scalar: the enclosing object closes
      if (--depth === 0) return i + 1
    } else if (depth === 0 && c === COMMA) return i > start ? i : -1
    i++
  }
  return -1
}

const BODY_KEY_END = 'Object":'

/** Where the first `,"requestObject":` or `,"responseObject":` starts (one pass over the line), or -1. */
function findFirstBodyKey(line: string): number {
  for (let i = line.indexOf(BODY_KEY_END); i >= 0; i = line.indexOf(BODY_KEY_END, i + BODY_KEY_END.length)) {
    const request = i - (REQUEST_KEY.length - BODY_KEY_END.length)
    if (line.startsWith(REQUEST_KEY, request)) return request
    const response = i - (RESPONSE_KEY.length - BODY_KEY_END.length)
    if (line.startsWith(RESPONSE_KEY, response)) return response
  }
  return -1
}

interface Spans {
  /** Where the skipped bodies start (`,"requestObject":…`), or -1 when there are none. */
  bodiesStart: number
  /** Just past the last skipped body. */
  bodiesEnd: number
  requestObjectChars: number
  responseObjectChars: number
  /** Where a top-level `,"annotations":…` that ends the line starts, else the final `}`. */
  metaEnd: number
}

/**
 * Locates the bodies and the annotations the way the Go encoder places them; `undefined` when
 * the line does not look like that (then it is parsed whole).
 */
function locateSpans(line: string): Spans | undefined {
  const last = line.length - 1
  if (line.charCodeAt(last) !== CLOSE_BRACE) return undefined
  const bodiesStart = findFirstBodyKey(line)
  let bodiesEnd = bodiesStart
  let requestObjectChars = 0
  let responseObjectChars = 0
  if (bodiesStart >= 0 && line.startsWith(REQUEST_KEY, bodiesStart)) {
    bodiesEnd = skipJsonValue(line, bodiesStart + REQUEST_KEY.length)
    if (bodiesEnd < 0) return undefined
    requestObjectChars = bodiesEnd - bodiesStart
  }
  if (bodiesEnd >= 0 && line.startsWith(RESPONSE_KEY, bodiesEnd)) {
    const end = skipJsonValue(line, bodiesEnd + RESPONSE_KEY.length)
    if (end < 0) return undefined
    responseObjectChars = end - bodiesEnd
    bodiesEnd = end
  }
  // annotations come last: after the bodies only the short tail is searched, else from the end
  const ann = bodiesEnd >= 0 ? line.indexOf(ANNOTATIONS_KEY, bodiesEnd) : line.lastIndexOf(ANNOTATIONS_KEY)
  const annotationsEndLine = ann > 0 && skipJsonValue(line, ann + ANNOTATIONS_KEY.length) === last
  const metaEnd = annotationsEndLine ? ann : last
  if (bodiesStart < 0 && metaEnd === last) return undefined
  return { bodiesStart, bodiesEnd, requestObjectChars, responseObjectChars, metaEnd }
}

/**
 * Parses everything but the bodies and the annotations (the last field). The pieces around the
 * cuts must each parse as a complete object, which only happens when every cut is at the top
 * level; the skipped spans are followed structurally, so they hold exactly the skipped fields.
 * Anything else is parsed whole: for a line that parses, head mode gives the same event.
 */
export function parseHead(line: string): HeadParse {
  const spans = locateSpans(line)
  if (!spans) return parseFull(line)
  const { bodiesStart, bodiesEnd, metaEnd } = spans
  let value: Record<string, unknown> | undefined
  if (bodiesStart < 0) {
    value = tryObject(line.slice(0, metaEnd) + '}')
  } else {
    const head = tryObject(line.slice(0, bodiesStart) + '}')
    if (head && bodiesEnd === metaEnd) value = head
    else if (head && line.charCodeAt(bodiesEnd) === COMMA) {
      const rest = tryObject('{' + line.slice(bodiesEnd + 1, metaEnd) + '}')
      value = rest && Object.assign(head, rest)
    }
  }
  // a skipped field that also appears elsewhere (a duplicate key: the last one wins in JSON.parse)
  // would make the two parses differ
  if (!value || 'annotations' in value || 'requestObject' in value || 'responseObject' in value) return parseFull(line)
  return { value, raw: line, bodiesStart, requestObjectChars: spans.requestObjectChars, responseObjectChars: spans.responseObjectChars }
}

function tryObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown
    return isJsonObject(v) ? v : undefined
  } catch {
    return undefined
  }
}

/**
 * A plain JSON.parse. Body sizes are read off where the encoder puts the bodies (just before
 * `requestReceivedTimestamp`) with plain string searches: they are estimates for the volume
 * figures, and scanning the bodies would cost more than the parse saves.
 */
export function parseFull(line: string): HeadParse {
  const value = JSON.parse(line) as unknown
  if (!isJsonObject(value) || (value['requestObject'] === undefined && value['responseObject'] === undefined)) {
    return { value, raw: undefined, bodiesStart: -1, requestObjectChars: 0, responseObjectChars: 0 }
  }
  const req = line.indexOf(REQUEST_KEY)
  const resp = line.indexOf(RESPONSE_KEY, Math.max(req, 0))
  const tail = line.lastIndexOf(TAIL_KEY)
  const end = tail > Math.max(req, resp) ? tail : line.length - 1
  const requestObjectChars = req >= 0 ? (resp >= 0 ? resp : end) - req : 0
  const responseObjectChars = resp >= 0 ? end - resp : 0
  return { value, raw: undefined, bodiesStart: req >= 0 ? req : resp, requestObjectChars, responseObjectChars }
}
