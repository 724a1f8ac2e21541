/**
 * @module The RBAC objects' history, rebuilt from the trail: every successful create, update,
 * patch, delete and deletecollection of Roles, ClusterRoles and their bindings, applied in order,
 * gives the grants in force at any time. The object after a change is the response body where
 * it was logged (RequestResponse); else the request body (a create or update carries the whole
 * object; a patch is applied to the state before it: a JSON patch as RFC 6902, a merge or
 * strategic-merge patch as RFC 7386, which is what a strategic merge means for RBAC objects,
 * whose lists have no merge keys). A change logged without a body leaves the object unknown.
 */
import jsonPatch, { type Operation } from 'fast-json-patch'
import type { AuditEvent } from '../model/index.js'
import type { AuditStore, EventQuery } from '../store/index.js'
import { ObjectInvalid, rbacObjectFrom } from './objects.js'
import { objectKey, RBAC_GROUP, type RbacObject } from './types.js'

const KIND_OF: Record<string, RbacObject['kind']> = { roles: 'Role', clusterroles: 'ClusterRole', rolebindings: 'RoleBinding', clusterrolebindings: 'ClusterRoleBinding' }
export const RBAC_RESOURCES = Object.keys(KIND_OF)
export const RBAC_WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection']

/** The store query for the changes that make the history (successful RBAC writes, oldest first). */
export function rbacChangesQuery(base: EventQuery = {}): EventQuery {
  return {
    ...base,
    resources: RBAC_RESOURCES.map((resource) => ({ resource, apiGroup: RBAC_GROUP, subresource: '' })),
    verbs: RBAC_WRITE_VERBS,
    stages: ['ResponseComplete'],
    codes: [{ min: 200, max: 299 }],
    order: 'oldest',
  }
}

export interface RbacChange {
  /** When the change completed (the event's stageTimestamp, µs). */
  at: string
  verb: string
  key: string
  user: string
  auditID: string
  /** The object after the change; undefined for a delete, or when its state is unknown. */
  object?: RbacObject
  /** Keys of the objects a deletecollection removed. */
  removed?: string[]
  /** Why the state after this change is not known (no body logged, a body that is not an RBAC object). */
  unknown?: string
}

/** A JSON merge patch (RFC 7386); `$`-directives of strategic merge patches are dropped. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {}
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (k.startsWith('$')) continue
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

function keyFromRef(e: AuditEvent): string | undefined {
  const kind = KIND_OF[e.objectRef?.resource ?? '']
  const name = e.objectRef?.name
  if (!kind || !name) return undefined
  return objectKey({ kind, name, namespace: kind === 'Role' || kind === 'RoleBinding' ? e.objectRef?.namespace : undefined })
}

export class RbacHistory {
  readonly changes: RbacChange[] = []
  /** The last known JSON of each object (for applying patches that come without a response body). */
  private readonly json = new Map<string, unknown>()

  /** Adds one event if it is a successful RBAC write (others are ignored); events must come oldest first. */
  add(e: AuditEvent): void {
    const kind = KIND_OF[e.objectRef?.resource ?? '']
    const code = e.responseStatus?.code ?? 0
    if (!kind || e.objectRef?.apiGroup !== RBAC_GROUP || e.objectRef.subresource || e.stage !== 'ResponseComplete' || code < 200 || code > 299) return
    if (!RBAC_WRITE_VERBS.includes(e.verb)) return
    const base = { at: e.stageTimestamp, verb: e.verb, user: e.impersonatedUser?.username ?? e.user.username ?? '', auditID: e.auditID }
    if (e.verb === 'deletecollection') {
      const ns = kind === 'Role' || kind === 'RoleBinding' ? e.objectRef.namespace ?? '' : undefined
      const prefix = ns === undefined ? `${kind} ` : `${kind} ${ns}/`
      const items = (e.responseObject as { items?: Array<{ metadata?: { name?: string } }> } | undefined)?.items
      const removed = items ? items.map((i) => `${prefix}${i.metadata?.name ?? ''}`) : [...this.json.keys()].filter((k) => k.startsWith(prefix))
      for (const k of removed) this.json.delete(k)
      this.changes.push({ ...base, key: prefix + '*', removed })
      return
    }
    const key = keyFromRef(e)
    if (!key) return
    if (e.verb === 'delete') {
      this.json.delete(key)
      this.changes.push({ ...base, key })
      return
    }
    let after: unknown = e.responseObject
    if (after === undefined && (e.verb === 'create' || e.verb === 'update')) after = e.requestObject
    if (after === undefined && e.verb === 'patch' && e.requestObject !== undefined && this.json.has(key)) {
      const before = this.json.get(key)
      try {
        after = Array.isArray(e.requestObject) ? jsonPatch.applyPatch(jsonPatch.deepClone(before), e.requestObject as Operation[], false, false).newDocument : mergePatch(before, e.requestObject)
      } catch (error) {
        this.unknown(key, base, `the patch could not be applied: ${(error as Error).message}`)
        return
      }
    }
    if (after === undefined) {
      this.unknown(key, base, e.level === 'Metadata' ? 'logged at Metadata (no body)' : 'no body to rebuild it from')
      return
    }
    // a create's body may lack what the URL gave (namespace) or the server filled in (generateName)
    const body = withMeta(after, kind, e)
    try {
      const object = rbacObjectFrom(body)
      if (!object) throw new ObjectInvalid({ field: 'kind', message: `not an RBAC object (${JSON.stringify((body as { kind?: unknown }).kind)})` })
      this.json.set(key, body)
      this.changes.push({ ...base, key, object })
    } catch (error) {
      if (!(error instanceof ObjectInvalid)) throw error
      this.unknown(key, base, `its body is not a valid ${kind}: ${error.message}`)
    }
  }

  private unknown(key: string, base: Omit<RbacChange, 'key'>, why: string): void {
    this.json.delete(key)
    this.changes.push({ ...base, key, unknown: why })
  }

  /** The objects in force at `at` (changes completed before it), or after every change. */
  stateAt(at?: Date): { objects: RbacObject[]; unknown: RbacChange[] } {
    const limit = at?.getTime()
    const first = limit === undefined ? -1 : this.changes.findIndex((c) => Date.parse(c.at) >= limit)
    return this.stateAfter(first < 0 ? this.changes.length : first)
  }

  /** The objects after the first `count` changes. */
  stateAfter(count: number): { objects: RbacObject[]; unknown: RbacChange[] } {
    const objects = new Map<string, RbacObject>()
    const unknown = new Map<string, RbacChange>()
    for (const c of this.changes.slice(0, count)) {
      for (const k of c.removed ?? []) {
        objects.delete(k)
        unknown.delete(k)
      }
      if (c.removed) continue
      if (c.object) {
        objects.set(c.key, c.object)
        unknown.delete(c.key)
      } else {
        objects.delete(c.key)
        if (c.unknown) unknown.set(c.key, c)
        else unknown.delete(c.key)
      }
    }
    return { objects: [...objects.values()], unknown: [...unknown.values()] }
  }
}

function withMeta(body: unknown, kind: string, e: AuditEvent): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body
  const o = body as Record<string, unknown>
  const meta = { ...((o['metadata'] as Record<string, unknown> | undefined) ?? {}) }
  if (!meta['name'] && e.objectRef?.name) meta['name'] = e.objectRef.name
  if (!meta['namespace'] && e.objectRef?.namespace && (kind === 'Role' || kind === 'RoleBinding')) meta['namespace'] = e.objectRef.namespace
  return { apiVersion: `${RBAC_GROUP}/v1`, kind, ...o, metadata: meta }
}

/** The history of RBAC objects recorded in the store (up to `until`), for one cluster or all. */
export async function rbacHistoryFromStore(store: AuditStore, options: { clusters?: string[]; until?: Date } = {}): Promise<RbacHistory> {
  const history = new RbacHistory()
  const q = rbacChangesQuery({ ...(options.clusters ? { clusters: options.clusters } : {}), ...(options.until ? { until: options.until } : {}) })
  const events: AuditEvent[] = []
  for await (const s of store.query(q)) events.push(s.event)
  // completion order: what the authorizer's cache saw
  events.sort((a, b) => (a.stageTimestamp < b.stageTimestamp ? -1 : a.stageTimestamp > b.stageTimestamp ? 1 : 0))
  for (const e of events) history.add(e)
  return history
}
