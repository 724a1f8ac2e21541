/**
 * @module Replaying recorded events under another policy: what the apiserver would have
 * written for the same request and stage. Shared by `policy simulate` and `policy diff`.
 *
 * The input must have been recorded with at least the detail the target policy asks for: a
 * catch-all `RequestResponse` rule with no omitted stages records everything any policy can
 * log. Events recorded at a lower level (or with stages omitted) can only be replayed down,
 * never up; `ReplayOutcome.underRecorded` says when a figure is therefore a lower bound.
 */
import { levelAtLeast, type AuditEvent, type Level, type Stage } from '../model/index.js'
import { isJsonObject, type JsonObject } from '../core/json.js'
export { goJson } from '../model/index.js'
import type { Decision } from './types.js'

export type ReplayVerdict =
  /** The policy logs this event (at `decision.level`). */
  | 'kept'
  /** The matching rule (or no rule) says level None: the request is not audited at all. */
  | 'dropped-level-none'
  /** The request is audited, but this stage is in the rule's (or policy's) omitStages. */
  | 'dropped-stage-omitted'

export function replayVerdict(stage: Stage, decision: Decision): ReplayVerdict {
  if (decision.level === 'None') return 'dropped-level-none'
  if (decision.omitStages.includes(stage)) return 'dropped-stage-omitted'
  return 'kept'
}

/**
 * True when the recorded event lacks detail the new level would log: the bodies were never
 * captured, so the replayed event (and its size) is a lower bound.
 */
export function isUnderRecorded(recordedLevel: Level, newLevel: Level): boolean {
  return !levelAtLeast(recordedLevel, newLevel)
}

/**
 * The event the apiserver would have written at `decision`'s level, built from a richer
 * recording. Returns a new object; key order is preserved so the serialized form matches the
 * apiserver's field order.
 */
export function replayEvent(event: AuditEvent, decision: Decision): AuditEvent {
  const out: AuditEvent = { ...event, level: decision.level }
  // pkg/audit/request.go: request bodies are recorded from level Request, responses from
  // RequestResponse; lower levels keep objectRef/responseStatus only.
  if (!levelAtLeast(decision.level, 'Request')) delete out.requestObject
  if (!levelAtLeast(decision.level, 'RequestResponse')) delete out.responseObject
  if (decision.omitManagedFields) {
    if (out.requestObject !== undefined) out.requestObject = withoutManagedFields(out.requestObject)
    if (out.responseObject !== undefined) out.responseObject = withoutManagedFields(out.responseObject)
  }
  return out
}


function stripMetadata(obj: JsonObject): JsonObject {
  const meta = obj['metadata']
  if (!isJsonObject(meta) || !('managedFields' in meta)) return obj
  const { managedFields: _dropped, ...rest } = meta
  return { ...obj, metadata: rest }
}

/**
 * `removeManagedFields` in pkg/audit/request.go: drops `metadata.managedFields` from an object,
 * from every item of a list, and from the objects embedded in a Table's rows.
 */
export function withoutManagedFields(body: unknown): unknown {
  if (!isJsonObject(body)) return body
  let out = stripMetadata(body)
  const items = out['items']
  if (Array.isArray(items)) out = { ...out, items: items.map((i) => (isJsonObject(i) ? stripMetadata(i) : i)) }
  const rows = out['rows']
  if (out['kind'] === 'Table' && Array.isArray(rows)) {
    out = {
      ...out,
      rows: rows.map((r) => (isJsonObject(r) && isJsonObject(r['object']) ? { ...r, object: stripMetadata(r['object']) } : r)),
    }
  }
  return out
}
