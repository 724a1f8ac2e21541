/**
 * @module Small helpers for untyped JSON values.
 */

export type JsonObject = Record<string, unknown>

/** A JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
