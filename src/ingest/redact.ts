/**
 * @module Secret redaction, on by default wherever events enter the store (the collector and
 * `kubetrail import`): values people must never find in
 * an audit store are replaced by a marker carrying a keyed hash (HMAC-SHA-256 under a key kept
 * in the data directory), so equal values can still be correlated ("the same token was used
 * here and there") and nothing readable is stored.
 *
 * Redacted: `data` and `stringData` values of Secrets (objects, lists, patches, and the copy in
 * the last-applied-configuration annotation), `token` in TokenRequest status and TokenReview
 * spec, and Authorization-like fields anywhere in a body.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AuditEvent } from '../model/index.js'
import { isJsonObject, type JsonObject } from '../core/json.js'

export const REDACTED_PREFIX = 'kubetrail:redacted:hmac-sha256:'

/** Field names whose values are credentials wherever they appear in a body. */
const CREDENTIAL_KEYS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie', 'set-cookie'])

const CREDENTIAL_TEXT = new RegExp(`"(${[...CREDENTIAL_KEYS].join('|')})"`, 'i')

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

export class Redactor {
  constructor(private readonly key: Buffer) {}

  marker(value: unknown): string {
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    return REDACTED_PREFIX + createHmac('sha256', this.key).update(text).digest('hex').slice(0, 32)
  }

  /**
   * Redacts in place; returns how many values were replaced. With the event's text, bodies whose
   * text names no credential field are not walked.
   */
  redact(event: AuditEvent, text?: string): number {
    let count = 0
    const ref = event.objectRef
    const resource = ref?.resource
    const group = ref?.apiGroup ?? ''
    for (const field of ['requestObject', 'responseObject'] as const) {
      const body = event[field]
      if (body === undefined) continue
      if (group === '' && resource === 'secrets') count += this.secretBody(body)
      if (group === '' && resource === 'serviceaccounts' && ref?.subresource === 'token') count += this.tokenAt(body, 'status')
      if (group === 'authentication.k8s.io' && resource === 'tokenreviews') count += this.tokenAt(body, 'spec')
      // an escaped key (\u0041uthorization) would hide from the text test: walk those too
      if (text === undefined || CREDENTIAL_TEXT.test(text) || text.includes('\\u')) count += this.credentialKeys(body)
    }
    return count
  }

  /**
   * An event's JSON text with its secrets replaced, and how many; the same text when there were
   * none (most events: a text test spares them the parse) or when it is not JSON (the store
   * reports it).
   */
  redactText(text: string): { text: string; values: number } {
    if (!mayHoldSecrets(text)) return { text, values: 0 }
    let event: AuditEvent
    try {
      event = JSON.parse(text) as AuditEvent
    } catch {
      return { text, values: 0 }
    }
    const values = this.redact(event, text)
    return values === 0 ? { text, values } : { text: JSON.stringify(event), values }
  }

  /** A Secret, a SecretList, a merge patch or a JSON patch on a Secret. */
  private secretBody(body: unknown): number {
    let count = 0
    if (Array.isArray(body)) {
      // JSON patch: operations whose path goes into data/stringData carry values
      for (const op of body) if (isJsonObject(op) && typeof op['path'] === 'string' && /^\/(data|stringData)(\/|$)/.test(op['path']) && 'value' in op) {
        op['value'] = isJsonObject(op['value']) ? this.mapValues(op['value']) : this.marker(op['value'])
        count++
      }
      return count
    }
    if (!isJsonObject(body)) return 0
    count += this.secretObject(body)
    if (Array.isArray(body['items'])) for (const item of body['items']) if (isJsonObject(item)) count += this.secretObject(item)
    return count
  }

  private secretObject(obj: JsonObject): number {
    let count = 0
    for (const key of ['data', 'stringData']) {
      const values = obj[key]
      if (isJsonObject(values)) {
        obj[key] = this.mapValues(values)
        count += Object.keys(values).length
      }
    }
    const meta = obj['metadata']
    const annotations = isJsonObject(meta) ? meta['annotations'] : undefined
    if (isJsonObject(annotations) && typeof annotations[LAST_APPLIED] === 'string') {
      annotations[LAST_APPLIED] = this.marker(annotations[LAST_APPLIED])
      count++
    }
    return count
  }

  private mapValues(values: JsonObject): JsonObject {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, this.marker(v)]))
  }

  private tokenAt(body: unknown, parent: 'spec' | 'status'): number {
    if (!isJsonObject(body) || !isJsonObject(body[parent])) return 0
    const holder = body[parent] as JsonObject
    if (typeof holder['token'] !== 'string' || holder['token'] === '') return 0
    holder['token'] = this.marker(holder['token'])
    return 1
  }

  private credentialKeys(value: unknown, depth = 0): number {
    if (depth > 64) return 0
    let count = 0
    if (Array.isArray(value)) for (const v of value) count += this.credentialKeys(v, depth + 1)
    else if (isJsonObject(value))
      for (const [k, v] of Object.entries(value)) {
        if (CREDENTIAL_KEYS.has(k.toLowerCase()) && (typeof v === 'string' || Array.isArray(v))) {
          value[k] = this.marker(v)
          count++
        } else count += this.credentialKeys(v, depth + 1)
      }
    return count
  }
}

/** The HMAC key for redaction markers: made once per data directory, 0600 (markers match across the collector and imports). */
export function redactionKey(dataDir: string): Buffer {
  const path = join(dataDir, 'redaction.key')
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  return Buffer.from(readFileSync(path, 'utf8').trim(), 'hex')
}

/**
 * Whether an event's text may hold a value to redact: it has a body, and names a Secret, a token
 * (TokenRequest, TokenReview) or a credential field, or escapes a character (which could hide
 * one of those). A cheap test that spares the others a parse.
 */
export function mayHoldSecrets(text: string): boolean {
  return BODY_OR_ESCAPE.test(text) && SECRET_HINT.test(text)
}

/** One pass each (most events are Metadata-level: no body, the first test fails fast). */
const BODY_OR_ESCAPE = /"(?:requestObject|responseObject)"|\\u/
const SECRET_HINT = new RegExp(`"(?:secrets|token|tokenreviews|${[...CREDENTIAL_KEYS].join('|')})"|\\\\u`, 'i')
