/**
 * @module Requests as the RBAC authorizer saw them, from the store's access summary: the
 * identity judged (the impersonated user when there was one), the attributes (RequestInfo: a
 * create has no name, a non-resource request is its path), and whether authorization allowed it.
 *
 * The decision is the apiserver's own `authorization.k8s.io/decision` annotation where recorded.
 * Without it: a 403 was refused before authorization (impersonation); another 4xx but 401/429
 * came after authorization allowed the request (validation, not found, conflict); a 2xx or 3xx
 * was allowed; 401, 429, 5xx and no code at all say nothing.
 *
 * An impersonated request is also a use of the impersonator's `impersonate` permission on the
 * user (or service account), and on each group it asked for (impersonation.go).
 */
import { summarizeAccess } from '../store/access.js'
import type { AccessOptions, AccessRow, AuditStore, EventQuery } from '../store/index.js'
import { splitServiceAccount, type AccessAttributes, type UserInfo } from './types.js'

export type Outcome = 'allowed' | 'denied' | 'unknown'

export interface Access {
  cluster: string
  user: UserInfo
  attributes: AccessAttributes
  outcome: Outcome
  code: number
  /** The apiserver's reason for an allow ("RBAC: allowed by …"), when recorded. */
  reason: string
  requests: number
  firstAt: string
  lastAt: string
  /** The authenticated user behind an impersonated request. */
  impersonator?: string
  /** For the impersonator's own uses: the identity it acted as. */
  actingAs?: string
}

export function outcomeOf(decision: string, code: number): Outcome {
  if (decision === 'allow') return 'allowed'
  if (decision === 'forbid') return 'denied'
  if (code === 403) return 'denied'
  if ((code >= 100 && code < 400) || (code >= 400 && code < 500 && code !== 401 && code !== 429)) return 'allowed'
  return 'unknown'
}

export function attributesOfRow(row: Pick<AccessRow, 'verb' | 'apiGroup' | 'resource' | 'subresource' | 'namespace' | 'name' | 'path'>): AccessAttributes {
  const isResourceRequest = row.resource !== ''
  return {
    verb: row.verb,
    isResourceRequest,
    apiGroup: isResourceRequest ? row.apiGroup : '',
    resource: row.resource,
    subresource: row.subresource,
    namespace: isResourceRequest ? row.namespace : '',
    // the authorizer sees no name on a create (the event's name comes from the body)
    name: isResourceRequest && !(row.verb === 'create' && row.subresource === '') ? row.name : '',
    path: isResourceRequest ? '' : row.path,
  }
}

/** The groups an impersonating client asked for (the apiserver adds the rest itself). */
export function requestedGroups(user: string, groups: readonly string[]): string[] {
  const sa = splitServiceAccount(user)
  if (sa && groups.length === 3 && groups[0] === 'system:serviceaccounts' && groups[1] === `system:serviceaccounts:${sa[0]}` && groups[2] === 'system:authenticated') return []
  return groups.at(-1) === 'system:authenticated' ? groups.slice(0, -1) : [...groups]
}

/** The accesses one summary row stands for: the request, and the impersonator's impersonate uses. */
export function accessesOfRow(row: AccessRow): Access[] {
  const outcome = outcomeOf(row.decision, row.code)
  const base = { cluster: row.cluster, code: row.code, requests: row.requests, firstAt: row.firstAt, lastAt: row.lastAt }
  if (row.impersonatedUser === '') return [{ ...base, user: { name: row.user, groups: row.groups }, attributes: attributesOfRow(row), outcome, reason: row.reason }]
  const out: Access[] = [{ ...base, user: { name: row.impersonatedUser, groups: row.impersonatedGroups }, attributes: attributesOfRow(row), outcome, reason: row.reason, impersonator: row.user }]
  const impersonator = { name: row.user, groups: row.groups }
  const impersonate = (resource: string, namespace: string, name: string): Access => ({
    ...base,
    user: impersonator,
    attributes: { verb: 'impersonate', isResourceRequest: true, apiGroup: '', resource, subresource: '', namespace, name, path: '' },
    // the impersonated identity is recorded only once every impersonation check passed
    outcome: 'allowed',
    reason: '',
    actingAs: row.impersonatedUser,
  })
  const sa = splitServiceAccount(row.impersonatedUser)
  out.push(sa ? impersonate('serviceaccounts', sa[0], sa[1]) : impersonate('users', '', row.impersonatedUser))
  for (const g of requestedGroups(row.impersonatedUser, row.impersonatedGroups)) out.push(impersonate('groups', '', g))
  return out
}

/** Who the accesses are about: one user, one service account, or the members of a group. */
export type Identity = { kind: 'User'; name: string } | { kind: 'ServiceAccount'; namespace: string; name: string } | { kind: 'Group'; name: string }

export function identityLabel(id: Identity): string {
  return id.kind === 'ServiceAccount' ? `ServiceAccount ${id.namespace}/${id.name}` : `${id.kind} ${id.name}`
}

export function identityUserName(id: Identity): string | undefined {
  if (id.kind === 'User') return id.name
  if (id.kind === 'ServiceAccount') return `system:serviceaccount:${id.namespace}:${id.name}`
  return undefined
}

export function accessIsBy(a: Access, id: Identity): boolean {
  return id.kind === 'Group' ? a.user.groups.includes(id.name) : a.user.name === identityUserName(id)
}

/** Go's JSON text of a string (HTML-safe escaping), as the apiserver writes names into events. */
function goQuoted(s: string): string {
  return JSON.stringify(s).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

/**
 * The accesses by one identity in the events matching `base`: its own requests, the requests
 * made as it by impersonation, and (users) its impersonation of others. Uses only the store
 * interface: the impersonated side is found by the name's text in the event, then checked.
 */
export async function accessesOf(store: AuditStore, id: Identity, base: EventQuery = {}, options: AccessOptions = {}): Promise<Access[]> {
  const user = identityUserName(id)
  const own: EventQuery = user !== undefined ? { users: [user] } : { groups: [id.name] }
  const needle = user ?? id.name
  const texts = [...new Set([goQuoted(needle), JSON.stringify(needle)])]
  const q: EventQuery = { ...base, anyOf: [own, { eventContainsAny: texts }] }
  const rows = await summarizeAccess(store, q, options)
  return rows.flatMap(accessesOfRow).filter((a) => accessIsBy(a, id))
}

/** Every access in the events matching `q`. */
export async function allAccesses(store: AuditStore, q: EventQuery = {}, options: AccessOptions = {}): Promise<Access[]> {
  return (await summarizeAccess(store, q, options)).flatMap(accessesOfRow)
}
