/**
 * @module Secret redaction, on by default wherever events enter the store (the collector and
 * `kubetrail import`): values people must never find in
 * an audit store are replaced by a marker carrying a keyed hash (HMAC-SHA-256 under a key kept
 * in the data directory), so equal values can still be correlated ("the same token was used
 * here and there") and nothing readable is stored.
 *
 * Redacted (docs/security.md lists it for users):
 * - on requests to `secrets` (core group): `data` and `stringData` values of the body (a Secret,
 *   a SecretList's items, a merge patch) and of JSON patch operations into them, and the copy in
 *   the last-applied-configuration annotation;
 * - anywhere in any body, at any depth: every Secret-shaped object (`kind: Secret`, apiVersion
 *   `v1` or none: a Secret in a `List`, a CRD's Secret template, a Helm or GitOps resource),
 *   likewise; and a last-applied-configuration annotation that holds one is rewritten with it
 *   redacted;
 * - `token` in TokenRequest status and TokenReview spec;
 * - Authorization-like fields (`authorization`, `proxy-authorization`, `x-api-key`, `cookie`,
 *   `set-cookie`, any case) anywhere in a body, at any depth.
 * Not redacted, by design: ConfigMap values whatever their key (`password` included), Secret
 * values inside other formats (a Helm release blob, a base64 manifest in a string), patches to
 * other resources that carry a Secret without `kind` (there is nothing to recognise it by).
 * The walks are iterative: a body nested 100,000 levels deep is redacted like any other.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AuditEvent } from '../model/index.js'
import { isJsonObject, stringifyJson, visitJson, type JsonObject } from '../core/json.js'

export const REDACTED_PREFIX = 'kubetrail:redacted:hmac-sha256:'

/** Field names whose values are credentials wherever they appear in a body. */
const CREDENTIAL_KEYS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie', 'set-cookie'])

const CREDENTIAL_TEXT = new RegExp(`"(${[...CREDENTIAL_KEYS].join('|')})"`, 'i')

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

/** A Secret as the apiserver writes one (`kind: Secret`, core group v1; embedded templates often omit apiVersion). */
function isSecretShaped(obj: JsonObject): boolean {
  return obj['kind'] === 'Secret' && (obj['apiVersion'] === undefined || obj['apiVersion'] === 'v1')
}

export class Redactor {
  constructor(private readonly key: Buffer) {}

  marker(value: unknown): string {
    const text = typeof value === 'string' ? value : stringifyJson(value)
    return REDACTED_PREFIX + createHmac('sha256', this.key).update(text).digest('hex').slice(0, 32)
  }

  /**
   * Redacts in place; returns how many values were replaced. With the event's text, bodies whose
   * text names no credential field and no Secret are not walked.
   */
  redact(event: AuditEvent, text?: string): number {
    let count = 0
    const ref = event.objectRef
    const resource = ref?.resource
    const group = ref?.apiGroup ?? ''
    // an escaped key or value (\u0041uthorization, \u0053ecret) would hide from the text test: walk those too
    const walk = text === undefined || CREDENTIAL_TEXT.test(text) || text.includes('Secret') || text.includes('\\u')
    for (const field of ['requestObject', 'responseObject'] as const) {
      const body = event[field]
      if (body === undefined) continue
      const done = new Set<object>()
      if (group === '' && resource === 'secrets') count += this.secretBody(body, done)
      if (group === '' && resource === 'serviceaccounts' && ref?.subresource === 'token') count += this.tokenAt(body, 'status')
      if (group === 'authentication.k8s.io' && resource === 'tokenreviews') count += this.tokenAt(body, 'spec')
      if (walk) count += this.walk(body, done)
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
    return values === 0 ? { text, values } : { text: stringifyJson(event), values }
  }

  /** A Secret, a SecretList, a merge patch or a JSON patch on a Secret (objects redacted go into `done`). */
  private secretBody(body: unknown, done: Set<object>): number {
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
    count += this.secretObject(body, done)
    if (Array.isArray(body['items'])) for (const item of body['items']) if (isJsonObject(item)) count += this.secretObject(item, done)
    return count
  }

  /** Redacts a Secret's values; it goes into `done` (never redacted twice). */
  private secretObject(obj: JsonObject, done: Set<object>): number {
    done.add(obj)
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

  /** Every object of a body, iteratively: credential fields, Secret-shaped objects, last-applied copies holding a Secret. */
  private walk(body: unknown, done: Set<object>): number {
    let count = 0
    visitJson(body, (node) => {
      if (Array.isArray(node)) return
      // a Secret's data, already markers (its keys, e.g. "authorization", are the owner's names)
      if (this.markerMaps.has(node)) return false
      if (!done.has(node) && isSecretShaped(node)) count += this.secretObject(node, done)
      for (const [k, v] of Object.entries(node)) {
        if (CREDENTIAL_KEYS.has(k.toLowerCase()) && (typeof v === 'string' || Array.isArray(v))) {
          node[k] = this.marker(v)
          count++
        } else if (k === LAST_APPLIED && typeof v === 'string' && v.includes('Secret')) {
          const redacted = this.appliedCopy(v)
          if (redacted) {
            node[k] = redacted.text
            count += redacted.values
          }
        }
      }
    })
    return count
  }

  /** A last-applied-configuration (JSON text) with the Secrets in it redacted; undefined when it holds none. */
  private appliedCopy(text: string): { text: string; values: number } | undefined {
    let applied: unknown
    try {
      applied = JSON.parse(text)
    } catch {
      return undefined
    }
    // only Secrets: the credential-field walk of a parsed annotation would rewrite it for nothing it hides
    let values = 0
    const done = new Set<object>()
    visitJson(applied, (node) => {
      if (!Array.isArray(node) && !done.has(node) && isSecretShaped(node)) values += this.secretObject(node, done)
    })
    return values > 0 ? { text: stringifyJson(applied), values } : undefined
  }

  private readonly markerMaps = new WeakSet<object>()

  private mapValues(values: JsonObject): JsonObject {
    const markers = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, this.marker(v)]))
    this.markerMaps.add(markers)
    return markers
  }

  private tokenAt(body: unknown, parent: 'spec' | 'status'): number {
    if (!isJsonObject(body) || !isJsonObject(body[parent])) return 0
    const holder = body[parent] as JsonObject
    if (typeof holder['token'] !== 'string' || holder['token'] === '') return 0
    holder['token'] = this.marker(holder['token'])
    return 1
  }
}

/**
 * The data directory's key when it has one, else a key for this process only (markers then match
 * within one run): for showing events read from files without creating a store.
 */
export function readRedactionKey(dataDir: string): Buffer {
  const path = join(dataDir, 'redaction.key')
  return existsSync(path) ? Buffer.from(readFileSync(path, 'utf8').trim(), 'hex') : randomBytes(32)
}

/** The HMAC key for redaction markers: made once per data directory, 0600 (markers match across the collector and imports). */
export function redactionKey(dataDir: string): Buffer {
  const path = join(dataDir, 'redaction.key')
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  return Buffer.from(readFileSync(path, 'utf8').trim(), 'hex')
}

/**
 * Whether an event's text may hold a value to redact: it has a body, and names a Secret (the
 * resource or the kind), a token (TokenRequest, TokenReview) or a credential field, or escapes a
 * character (which could hide one of those). A cheap test that spares the others a parse.
 */
export function mayHoldSecrets(text: string): boolean {
  return BODY_OR_ESCAPE.test(text) && (SECRET_HINT.test(text) || text.includes('Secret'))
}

/** One pass each (most events are Metadata-level: no body, the first test fails fast). */
const BODY_OR_ESCAPE = /"(?:requestObject|responseObject)"|\\u/
const SECRET_HINT = new RegExp(`"(?:secrets|token|tokenreviews|${[...CREDENTIAL_KEYS].join('|')})"|\\\\u`, 'i')

/** The two patterns of `mayHoldSecrets` (the second is case-insensitive), for engines that test them themselves. */
export const SECRET_TEXT = { body: BODY_OR_ESCAPE.source, hint: SECRET_HINT.source }
