/**
 * @module The access summary (`AccessRow`s) computed from stored events one by one: what a store
 * without its own `access` gives, and what the store suite holds every implementation's equal to.
 */
import { auditTimeMicros } from '../model/index.js'
import type { AccessOptions, AccessRow, AuditStore, EventQuery, StoredEvent } from './types.js'

export const ACCESS_STAGES = ['ResponseComplete', 'Panic'] as const

/** The path of a request URI without its query string. */
export function uriPath(uri: string): string {
  const q = uri.indexOf('?')
  return q < 0 ? uri : uri.slice(0, q)
}

const SEP = '\u0000'

/** An audit time as the store prints it (6 fractional digits), with its microseconds for ordering. */
function normalTime(s: string): { text: string; micros: bigint } {
  const m = auditTimeMicros(s)
  if (m === undefined) return { text: s, micros: 0n }
  const micros = BigInt(m)
  const ms = Number(micros / 1000n)
  return { text: `${new Date(ms).toISOString().slice(0, 19)}.${String(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).padStart(6, '0')}Z`, micros }
}

/** Adds stored events to rows keyed as the store groups them. */
export class AccessSummary {
  private readonly rows = new Map<string, AccessRow>()
  private readonly times = new Map<AccessRow, { first: bigint; last: bigint }>()
  constructor(private readonly options: AccessOptions = {}) {}

  add(s: StoredEvent): void {
    const e = s.event
    if (!(ACCESS_STAGES as readonly string[]).includes(e.stage)) return
    const r = e.objectRef
    const row: AccessRow = {
      cluster: s.cluster,
      user: e.user.username ?? '',
      groups: e.user.groups ?? [],
      impersonatedUser: e.impersonatedUser?.username ?? '',
      impersonatedGroups: e.impersonatedUser?.groups ?? [],
      verb: e.verb,
      apiGroup: r?.apiGroup ?? '',
      resource: r?.resource ?? '',
      subresource: r?.subresource ?? '',
      namespace: r?.namespace ?? '',
      name: this.options.names === false ? '' : (r?.name ?? ''),
      path: r?.resource ? '' : uriPath(e.requestURI),
      code: e.responseStatus?.code ?? 0,
      decision: e.annotations?.['authorization.k8s.io/decision'] ?? '',
      reason: e.annotations?.['authorization.k8s.io/reason'] ?? '',
      requests: 1,
      firstAt: '',
      lastAt: '',
    }
    const at = normalTime(e.requestReceivedTimestamp)
    const key = [row.cluster, row.user, row.groups.join(SEP), row.impersonatedUser, row.impersonatedGroups.join(SEP), row.verb, row.apiGroup, row.resource, row.subresource, row.namespace, row.name, row.path, row.code, row.decision, row.reason].join('\u0001')
    const seen = this.rows.get(key)
    if (!seen) {
      this.rows.set(key, row)
      this.times.set(row, { first: at.micros, last: at.micros })
      row.firstAt = row.lastAt = at.text
      return
    }
    seen.requests++
    const t = this.times.get(seen)!
    if (at.micros < t.first) [t.first, seen.firstAt] = [at.micros, at.text]
    if (at.micros > t.last) [t.last, seen.lastAt] = [at.micros, at.text]
  }

  result(): AccessRow[] {
    return [...this.rows.values()]
  }
}

/** `store.access` where the store has it, else the same rows from `store.query`. */
export async function summarizeAccess(store: AuditStore, q: EventQuery, options: AccessOptions = {}): Promise<AccessRow[]> {
  if (store.access) return store.access(q, options)
  const summary = new AccessSummary(options)
  const { limit: _l, offset: _o, ...rest } = q
  for await (const s of store.query({ ...rest, stages: [...ACCESS_STAGES] })) summary.add(s)
  return summary.result()
}
