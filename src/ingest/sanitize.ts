/**
 * @module Events kubetrail must change to store them, changed the same way by the collector and
 * `kubetrail import`, and always said so in an annotation (kubetrail's own keys: the apiserver's
 * come from admission plugins, named after them).
 *
 * A lone UTF-16 surrogate escape (`"\ud800"` without its pair) is valid JSON text but not Unicode:
 * Go's decoder reads it as U+FFFD, DuckDB's JSON reader refuses the whole event. The apiserver
 * copies a patch's bytes into the log as they were sent, so any API user can put one there;
 * refusing the event would keep their request out of the store. It is stored with U+FFFD.
 */
import { allStringsWellFormed, makeStringsWellFormed, stringifyJson, isJsonObject } from '../core/json.js'
import type { AuditEvent } from '../model/index.js'

/** Set when strings were made well-formed; its value says how many. */
export const SANITIZED_ANNOTATION = 'kubetrail.io/sanitized'
/** Set when the bodies were replaced by OMITTED_BODY; its value says why, and the size and hash of the event as received. */
export const BODIES_OMITTED_ANNOTATION = 'kubetrail.io/bodies-omitted'
/** What stands in for a body that could not be stored. */
export const OMITTED_BODY = 'kubetrail:omitted'

export function annotate(event: AuditEvent, key: string, value: string): void {
  event.annotations = { ...(isJsonObject(event.annotations) ? event.annotations : {}), [key]: value }
}

/** Whether a JSON text escapes a surrogate (\ud800-\udfff) anywhere: cheap, and almost never true. */
export function escapesSurrogate(json: string): boolean {
  for (let i = json.indexOf('\\u'); i >= 0; i = json.indexOf('\\u', i + 2)) {
    const c = json.charCodeAt(i + 2) | 0x20
    const d = json.charCodeAt(i + 3) | 0x20
    if (c === 0x64 && ((d >= 0x38 && d <= 0x39) || (d >= 0x61 && d <= 0x66))) return true
  }
  return false
}

/** Replaces lone surrogates in the event (in place) and annotates it; false when it had none. */
export function sanitizeEvent(event: AuditEvent): boolean {
  if (allStringsWellFormed(event)) return false
  const n = makeStringsWellFormed(event as unknown as Record<string, unknown>)
  annotate(event, SANITIZED_ANNOTATION, `${n} string(s) held a lone UTF-16 surrogate escape (not Unicode text, refused by the store's JSON reader): replaced by U+FFFD, as Go's decoder reads it`)
  return true
}

/** An event's JSON text with lone surrogates replaced (sanitizeEvent); the same text when it has none or is not a JSON object. */
export function sanitizeText(json: string): string {
  if (!escapesSurrogate(json)) return json
  let event: unknown
  try {
    event = JSON.parse(json)
  } catch {
    return json
  }
  if (!isJsonObject(event)) return json
  return sanitizeEvent(event as AuditEvent) ? stringifyJson(event) : json
}
