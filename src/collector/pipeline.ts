/**
 * @module What happens to events between the wire (or the followed file) and the WAL, in this
 * order: decode, check, the optional kubetrail-side audit policy, secret redaction. Enrichment
 * (user kind, external source) is computed by the store from the stored fields.
 *
 * One bad event never costs its neighbours: it is reported (index and reason) and the rest go on.
 */
import { API_VERSION, checkAuditEvent, levelAtLeast, type AuditEvent } from '../model/index.js'
import { describeProblem } from '../ingest/index.js'
import { attributesFromEvent, replayEvent, replayVerdict, type PolicyEvaluator } from '../policy/index.js'
import { KubetrailError } from '../core/errors.js'
import { isJsonObject } from '../core/json.js'
import type { Redactor } from '../ingest/index.js'
import { storeLine } from '../store/index.js'
import { itemSpans } from './item-spans.js'

export interface PipelineOptions {
  /** Drops or trims events centrally (the same engine as `policy simulate`). */
  policy?: PolicyEvaluator
  /** Absent only when the user turned redaction off. */
  redactor?: Redactor
  /**
   * Called with each accepted event (after redaction) instead of keeping it in `events`: the
   * collector runs detection here, so a parsed event is garbage before the next one is parsed.
   */
  onEvent?: (event: AuditEvent) => void
}

export interface Rejected {
  /** Position in the request (item index, or line number for NDJSON). */
  at: string
  reason: string
}

export interface PipelineResult {
  /** Events to store, as store lines (src/store): their stored columns, then their JSON. */
  accepted: string[]
  /** The same events, parsed (after redaction); empty when `onEvent` took them. */
  events: AuditEvent[]
  rejected: Rejected[]
  /** Dropped by the kubetrail-side policy (level None or an omitted stage). */
  dropped: number
  redactedValues: number
  /** The latest stageTimestamp among accepted events (RFC 3339), for freshness metrics. */
  newestStageTime: string | undefined
}

export class BodyInvalidError extends KubetrailError {
  constructor(message: string) {
    super('KT_BODY_INVALID', message, { hint: 'Send an audit.k8s.io/v1 EventList (as the apiserver webhook does), one Event, or NDJSON events.' })
  }
}

/** One event to process: its parsed value (or, `deferred`, its text only, parsed when it is processed) and, when known, its exact text as received. */
export interface DecodedItem {
  at: string
  value: unknown
  parseError?: string
  text?: string
  deferred?: boolean
}

/** The events in a request body: an EventList, one Event, or NDJSON (one event per line). */
export function decodeBody(body: string): DecodedItem[] {
  const text = body.trim()
  if (text === '') throw new BodyInvalidError('empty body')
  const items = eventListItemTexts(body)
  if (items) return items
  let whole: unknown
  try {
    whole = JSON.parse(text)
  } catch (error) {
    if (!text.includes('\n')) throw new BodyInvalidError(`body is not JSON: ${(error as Error).message}`)
    return ndjson(text)
  }
  if (!isJsonObject(whole)) throw new BodyInvalidError('body must be a JSON object (an EventList or an Event)')
  if (whole['kind'] === 'EventList') {
    const items = whole['items']
    if (!Array.isArray(items)) throw new BodyInvalidError('EventList without an items list')
    // a layout the item scanner does not read as JSON.parse does (e.g. a repeated items key):
    // the events are serialized again rather than stored as a text that may be another item's
    return items.map((value, i) => ({ at: `items[${i}]`, value }))
  }
  if (whole['kind'] === undefined || whole['kind'] === 'Event') return [{ at: 'event', value: whole, text }]
  throw new BodyInvalidError(`kind ${JSON.stringify(whole['kind'])} is not an audit Event or EventList`)
}

/**
 * The items of an EventList as their texts, each parsed when it is processed: parsed at once,
 * a webhook batch's 400 events were all alive together, outlived V8's young-generation
 * collections and were copied into the old generation (~40 % of the collector's CPU was its
 * garbage collector's). The rest of the body is parsed with the items taken out, so together
 * every byte is still parsed; undefined (parse it whole) for any other shape, or when the
 * scanner's `items` is not the one JSON.parse sees (a repeated key).
 */
function eventListItemTexts(body: string): DecodedItem[] | undefined {
  const spans = itemSpans(body)
  if (!spans || spans.length === 0) return undefined
  let envelope: unknown
  try {
    envelope = JSON.parse(body.slice(0, spans[0]![0]) + body.slice(spans[spans.length - 1]![1]))
  } catch {
    return undefined
  }
  if (!isJsonObject(envelope) || envelope['kind'] !== 'EventList' || !Array.isArray(envelope['items']) || envelope['items'].length !== 0) return undefined
  return spans.map(([start, end], i) => ({ at: `items[${i}]`, value: undefined, text: body.slice(start, end), deferred: true }))
}

function ndjson(text: string): DecodedItem[] {
  const out: DecodedItem[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    try {
      out.push({ at: `line ${i + 1}`, value: JSON.parse(line), text: line })
    } catch (error) {
      out.push({ at: `line ${i + 1}`, value: undefined, parseError: `not JSON: ${(error as Error).message}` })
    }
  })
  return out
}

/** Checks, filters and redacts decoded events. */
export function processEvents(items: readonly DecodedItem[], options: PipelineOptions): PipelineResult {
  const result: PipelineResult = { accepted: [], events: [], rejected: [], dropped: 0, redactedValues: 0, newestStageTime: undefined }
  for (const item of items) {
    let value = item.value
    if (item.deferred) {
      try {
        value = JSON.parse(item.text!)
      } catch (error) {
        result.rejected.push({ at: item.at, reason: `not JSON: ${(error as Error).message}` })
        continue
      }
    }
    if (item.parseError) {
      result.rejected.push({ at: item.at, reason: item.parseError })
      continue
    }
    const problem = checkAuditEvent(value)
    if (problem) {
      result.rejected.push({ at: item.at, reason: describeProblem(value, problem) })
      continue
    }
    let event = value as AuditEvent
    let changed = false
    if (options.policy) {
      const decision = options.policy.evaluate(attributesFromEvent(event))
      if (replayVerdict(event.stage, decision) !== 'kept') {
        result.dropped++
        continue
      }
      // only ever down: a body the apiserver did not record cannot be added
      if (levelAtLeast(event.level, decision.level) && event.level !== decision.level) {
        event = replayEvent(event, decision)
        changed = true
      }
    }
    if (options.redactor) {
      const n = options.redactor.redact(event, item.text)
      result.redactedValues += n
      changed ||= n > 0
    }
    const json = changed || item.text === undefined ? serialize(event) : asReceived(event, item.text)
    if (hasLoneSurrogate(json, event)) {
      result.rejected.push({ at: item.at, reason: 'a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair): not Unicode text, and not storable' })
      continue
    }
    result.accepted.push(storeLine(event, json))
    if (options.onEvent) options.onEvent(event)
    else result.events.push(event)
    if (result.newestStageTime === undefined || event.stageTimestamp > result.newestStageTime) result.newestStageTime = event.stageTimestamp
  }
  return result
}

const EVENT_PREFIX = `{"kind":"Event","apiVersion":"${API_VERSION}",`

/** The text as received (the end of a WAL line: no raw line break or tab), with kind/apiVersion in front when it had none. */
function asReceived(event: AuditEvent, text: string): string {
  // a WAL line holds no line break, not even a bare CR, which the store's line reader would split
  // on; and a store line's JSON, its last field, no tab (JSON.stringify writes neither)
  if (text.includes('\n') || text.includes('\r') || text.includes('\t')) return serialize(event)
  if (text.startsWith(EVENT_PREFIX)) return text
  if (event.kind === undefined && event.apiVersion === undefined && text.startsWith('{"')) return EVENT_PREFIX + text.slice(1)
  return serialize(event)
}

/**
 * JSON.parse accepts an escaped half of a surrogate pair on its own; the store's JSON reader
 * (yyjson) refuses the event, so the collector must not acknowledge it. The apiserver never
 * writes one (Go replaces invalid text with U+FFFD). The text is scanned first: cheap, and it
 * almost never finds an escape to look at.
 */
function hasLoneSurrogate(json: string, event: AuditEvent): boolean {
  for (let i = json.indexOf('\\u'); i >= 0; i = json.indexOf('\\u', i + 2)) {
    const c = json.charCodeAt(i + 2) | 0x20
    const d = json.charCodeAt(i + 3) | 0x20
    if (c === 0x64 && ((d >= 0x38 && d <= 0x39) || (d >= 0x61 && d <= 0x66))) return !allStringsWellFormed(event)
  }
  return false
}

function allStringsWellFormed(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed()
  if (Array.isArray(value)) return value.every(allStringsWellFormed)
  if (isJsonObject(value)) return Object.entries(value).every(([k, v]) => k.isWellFormed() && allStringsWellFormed(v))
  return true
}

/** EventList items carry no kind/apiVersion; stored events read like the log backend's lines. */
function serialize(event: AuditEvent): string {
  if (event.kind === 'Event' && event.apiVersion !== undefined) return JSON.stringify(event)
  const { kind: _k, apiVersion: _v, ...rest } = event
  return JSON.stringify({ kind: 'Event', apiVersion: API_VERSION, ...rest })
}
