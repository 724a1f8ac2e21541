/**
 * @module What happens to events between the wire (or the followed file) and the WAL, in this
 * order: decode, check, the optional kubetrail-side audit policy, secret redaction. Enrichment
 * (user kind, external source) is computed by the store from the stored fields.
 *
 * One bad event never costs its neighbours: it is reported (index and reason) and the rest go on.
 * Nothing here recurses over a body: an event whose body is nested 100,000 levels deep is stored
 * as it came (src/core/json.ts). An event some step still fails on (a bug, a library's limit) is
 * stored in a safe form, its bodies replaced by a marker and an annotation saying why, with the
 * size and SHA-256 of the event as received; only when even that fails is it refused, with its
 * reason. Lone UTF-16 surrogate escapes (which Go's decoder reads as U+FFFD, and which the
 * store's JSON reader refuses) are replaced by U+FFFD, with an annotation saying so.
 */
import { createHash } from 'node:crypto'
import { API_VERSION, levelAtLeast, type AuditEvent } from '../model/index.js'
import { checkAuditEvent } from '../model/check.js'
import { describeProblem } from '../ingest/index.js'
import { attributesFromEvent, replayEvent, replayVerdict, type PolicyEvaluator } from '../policy/index.js'
import { KubetrailError } from '../core/errors.js'
import { isJsonObject, stringifyJson } from '../core/json.js'
import { annotate, BODIES_OMITTED_ANNOTATION, escapesSurrogate, OMITTED_BODY, sanitizeEvent } from '../ingest/index.js'
import type { Redactor } from '../ingest/index.js'
import { storeLine } from '../store/index.js'
import { itemBounds } from './item-spans.js'

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

/** Rejections kept with their reason (the rest are counted): memory stays flat for a body of a million bad items. */
export const REJECTED_KEPT = 20

export interface PipelineResult {
  /** Events to store, as store lines (src/store): their stored columns, then their JSON. */
  accepted: string[]
  /** The same events, parsed (after redaction); empty when `onEvent` took them. */
  events: AuditEvent[]
  /** The first REJECTED_KEPT refused events, with their reasons. */
  rejected: Rejected[]
  /** Every refused event. */
  rejectedCount: number
  /** Events stored in a safe form (bodies replaced by a marker) because a step failed on them. */
  safeForm: number
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

/** More events in one body than --max-batch-items: refused whole (413), before any is parsed. */
export class TooManyItemsError extends KubetrailError {
  constructor(readonly limit: number) {
    super('KT_BODY_TOO_MANY_ITEMS', `more than ${limit} events in one request body`, {
      hint: `The apiserver sends at most --audit-webhook-batch-max-size events per request (400 by default); raise --max-batch-items if yours is larger than ${limit}.`,
    })
  }
}

/** Events one body may hold (the apiserver's batch is 400 by default): `serve --max-batch-items`. */
export const DEFAULT_MAX_ITEMS = 5000

/** One event to process: its parsed value (or, `deferred`, its text only, parsed when it is processed) and, when known, its exact text as received. */
export interface DecodedItem {
  at: string
  value: unknown
  parseError?: string
  text?: string
  deferred?: boolean
}

/** Decoded events, made one at a time as they are iterated (arrays are DecodedItems too). */
export interface DecodedItems extends Iterable<DecodedItem> {
  readonly length: number
}

/**
 * The events in a request body: an EventList, one Event, or NDJSON (one event per line). More
 * than `maxItems` events: TooManyItemsError, found before they are parsed or copied.
 */
export function decodeBody(body: string, maxItems = DEFAULT_MAX_ITEMS): DecodedItems {
  const text = body.trim()
  if (text === '') throw new BodyInvalidError('empty body')
  const items = eventListItemTexts(body, maxItems)
  if (items) return items
  let whole: unknown
  try {
    whole = JSON.parse(text)
  } catch (error) {
    if (!text.includes('\n')) throw new BodyInvalidError(`body is not JSON: ${(error as Error).message}`)
    return ndjson(text, maxItems)
  }
  if (!isJsonObject(whole)) throw new BodyInvalidError('body must be a JSON object (an EventList or an Event)')
  if (whole['kind'] === 'EventList') {
    const items = whole['items']
    if (!Array.isArray(items)) throw new BodyInvalidError('EventList without an items list')
    if (items.length > maxItems) throw new TooManyItemsError(maxItems)
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
function eventListItemTexts(body: string, maxItems: number): DecodedItems | undefined {
  const bounds = itemBounds(body, maxItems + 1)
  if (!bounds || bounds.length === 0) return undefined
  if (bounds.length > 2 * maxItems) throw new TooManyItemsError(maxItems)
  let envelope: unknown
  try {
    envelope = JSON.parse(body.slice(0, bounds[0]!) + body.slice(bounds[bounds.length - 1]!))
  } catch {
    return undefined
  }
  if (!isJsonObject(envelope) || envelope['kind'] !== 'EventList' || !Array.isArray(envelope['items']) || envelope['items'].length !== 0) return undefined
  // an item's text is cut from the body only when it is processed: a body's items cost two numbers each until then
  return {
    length: bounds.length / 2,
    *[Symbol.iterator]() {
      for (let i = 0; i < bounds.length; i += 2) yield { at: `items[${i / 2}]`, value: undefined, text: body.slice(bounds[i]!, bounds[i + 1]!), deferred: true }
    },
  }
}

/** NDJSON lines, each parsed when it is processed (as an EventList's items). */
function ndjson(text: string, maxItems: number): DecodedItem[] {
  let lines = 1
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) if (++lines > maxItems && text.slice(i + 1).trim() !== '') throw new TooManyItemsError(maxItems)
  const out: DecodedItem[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() !== '') out.push({ at: `line ${i + 1}`, value: undefined, text: line, deferred: true })
  })
  if (out.length > maxItems) throw new TooManyItemsError(maxItems)
  return out
}

/** Checks, filters and redacts decoded events. Never throws for an event: each is stored, stored in a safe form, or refused with its reason. */
export function processEvents(items: Iterable<DecodedItem>, options: PipelineOptions): PipelineResult {
  const result: PipelineResult = { accepted: [], events: [], rejected: [], rejectedCount: 0, safeForm: 0, dropped: 0, redactedValues: 0, newestStageTime: undefined }
  const reject = (at: string, reason: string) => {
    result.rejectedCount++
    if (result.rejected.length < REJECTED_KEPT) result.rejected.push({ at, reason })
  }
  for (const item of items) {
    let value = item.value
    if (item.deferred) {
      try {
        value = JSON.parse(item.text!)
      } catch (error) {
        reject(item.at, `not JSON: ${(error as Error).message}`)
        continue
      }
    }
    if (item.parseError) {
      reject(item.at, item.parseError)
      continue
    }
    let problem
    try {
      problem = checkAuditEvent(value)
      if (problem) {
        reject(item.at, describeProblem(value, problem))
        continue
      }
    } catch (error) {
      reject(item.at, `could not be checked: ${(error as Error).message}`)
      continue
    }
    let event: AuditEvent | undefined
    try {
      event = processEvent(value as AuditEvent, item.text, options, result)
    } catch (error) {
      // a step failed on this event (it cannot change on a retry): store what can be stored of it
      try {
        event = processEvent(safeForm(value as AuditEvent, item.text, error as Error), undefined, options, result)
        result.safeForm++
      } catch (again) {
        reject(item.at, `could not be processed: ${(again as Error).message}`)
        continue
      }
    }
    if (!event) continue
    if (options.onEvent) options.onEvent(event)
    else result.events.push(event)
    if (result.newestStageTime === undefined || event.stageTimestamp > result.newestStageTime) result.newestStageTime = event.stageTimestamp
  }
  return result
}

/** One checked event through the policy, redaction and sanitising into `result.accepted`; undefined when the policy drops it. */
function processEvent(checked: AuditEvent, text: string | undefined, options: PipelineOptions, result: PipelineResult): AuditEvent | undefined {
  let event = checked
  let changed = false
  if (options.policy) {
    const decision = options.policy.evaluate(attributesFromEvent(event))
    if (replayVerdict(event.stage, decision) !== 'kept') {
      result.dropped++
      return undefined
    }
    // only ever down: a body the apiserver did not record cannot be added
    if (levelAtLeast(event.level, decision.level) && event.level !== decision.level) {
      event = replayEvent(event, decision)
      changed = true
    }
  }
  let redacted = 0
  if (options.redactor) {
    redacted = options.redactor.redact(event, text)
    changed ||= redacted > 0
  }
  let json = changed || text === undefined ? serialize(event) : asReceived(event, text)
  if (escapesSurrogate(json) && sanitizeEvent(event)) json = serialize(event)
  const line = storeLine(event, json)
  result.accepted.push(line)
  result.redactedValues += redacted
  return event
}

/**
 * The event with its bodies replaced by OMITTED_BODY and an annotation giving the reason, the
 * size and the SHA-256 of the event as received (to find it in the source log), so who did
 * what, when, is still stored.
 */
function safeForm(event: AuditEvent, text: string | undefined, error: Error): AuditEvent {
  const { requestObject, responseObject, ...rest } = event
  const out: AuditEvent = { ...rest }
  const omitted = [requestObject !== undefined && 'requestObject', responseObject !== undefined && 'responseObject'].filter(Boolean).join(' and ') || 'no body'
  if (requestObject !== undefined) out.requestObject = OMITTED_BODY
  if (responseObject !== undefined) out.responseObject = OMITTED_BODY
  const received = text === undefined ? 'its text was not kept' : `${Buffer.byteLength(text)} bytes, sha256 ${createHash('sha256').update(text).digest('hex')}`
  annotate(out, BODIES_OMITTED_ANNOTATION, `${omitted} omitted: ${error.message.slice(0, 200)}; the event as received: ${received}`)
  return out
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

/** EventList items carry no kind/apiVersion; stored events read like the log backend's lines. */
function serialize(event: AuditEvent): string {
  if (event.kind === 'Event' && event.apiVersion !== undefined) return stringifyJson(event)
  const { kind: _k, apiVersion: _v, ...rest } = event
  return stringifyJson({ kind: 'Event', apiVersion: API_VERSION, ...rest })
}
