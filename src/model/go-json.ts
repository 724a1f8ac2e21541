/**
 * @module JSON as Go's encoding/json writes it, which is how the apiserver writes audit events.
 */
import { stringifyJson } from '../core/json.js'

const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
}

/**
 * JSON as Go's encoding/json writes it (HTML-safe escaping of <, >, & and the JS line
 * separators), so replayed events are byte-identical to what the apiserver writes. Any nesting
 * depth (an API user's body can be 100,000 levels deep).
 */
export function goJson(value: unknown): string {
  return stringifyJson(value).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]!)
}
