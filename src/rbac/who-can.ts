/**
 * @module Who could do something, and who did: every subject the grants allow a request to (the
 * RBAC authorizer's subject locator), each marked with whether and when it (or, for a group, a
 * member) was authorized to do it in the trail; and who did it without the grants saying they
 * could (the grants changed since, or another authorizer allowed it).
 */
import { allowedSubjects, ruleAllows } from './authorizer.js'
import type { Grants } from './grants.js'
import type { Access } from './access.js'
import type { AccessAttributes, PolicyRule, Subject } from './types.js'
import { subjectLabel } from './unused.js'

export interface WhoCanEntry {
  subject: Subject
  label: string
  /** The bindings that allow it (`system:masters` is allowed without one). */
  via: string[]
  /** Authorized requests that did it, in the window (for a group: by its members). */
  requests: number
  lastUsed: string
  /** Who did it, for a group. */
  users: string[]
}

export interface WhoCanResult {
  request: AccessAttributes
  allowed: WhoCanEntry[]
  /** Identities that were authorized to do it though no current grant allows them. */
  didWithoutGrant: Array<{ user: string; requests: number; lastUsed: string; reason: string }>
}

/** The request the question is about as one rule, for matching recorded requests (names optional). */
function questionRule(q: AccessAttributes): PolicyRule {
  const resource = q.subresource ? `${q.resource}/${q.subresource}` : q.resource
  return q.isResourceRequest
    ? { verbs: [q.verb], apiGroups: [q.apiGroup], resources: [resource], resourceNames: q.name ? [q.name] : [], nonResourceURLs: [] }
    : { verbs: [q.verb], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [q.path] }
}

export function whoCan(grants: Grants, request: AccessAttributes, accesses: readonly Access[]): WhoCanResult {
  const rule = questionRule(request)
  const did = accesses.filter((a) => a.outcome === 'allowed' && a.actingAs === undefined && ruleAllows(rule, a.attributes) && (!request.isResourceRequest || request.namespace === '' || a.attributes.namespace === request.namespace))
  const entries = new Map<string, WhoCanEntry>()
  for (const s of allowedSubjects(grants, request)) {
    const key = `${s.subject.kind}\u0000${s.subject.namespace}\u0000${s.subject.name}`
    const e = entries.get(key) ?? { subject: s.subject, label: subjectLabel(s.subject), via: [], requests: 0, lastUsed: '', users: [] }
    e.via.push(s.superuser ? '(superuser group)' : s.binding!.kind === 'RoleBinding' ? `RoleBinding ${s.binding!.namespace}/${s.binding!.name}` : `ClusterRoleBinding ${s.binding!.name}`)
    entries.set(key, e)
  }
  const covered = new Set<Access>()
  for (const e of entries.values()) {
    const s = e.subject
    const mine = did.filter((a) => (s.kind === 'Group' ? a.user.groups.includes(s.name) : s.kind === 'ServiceAccount' ? a.user.name === `system:serviceaccount:${s.namespace}:${s.name}` : a.user.name === s.name))
    for (const a of mine) covered.add(a)
    e.requests = mine.reduce((n, a) => n + a.requests, 0)
    e.lastUsed = mine.reduce((t, a) => (a.lastAt > t ? a.lastAt : t), '')
    e.users = [...new Set(mine.map((a) => a.user.name))].sort()
  }
  const without = new Map<string, { user: string; requests: number; lastUsed: string; reason: string }>()
  for (const a of did) {
    if (covered.has(a)) continue
    const w = without.get(a.user.name) ?? { user: a.user.name, requests: 0, lastUsed: '', reason: a.reason }
    w.requests += a.requests
    if (a.lastAt > w.lastUsed) [w.lastUsed, w.reason] = [a.lastAt, a.reason || w.reason]
    without.set(a.user.name, w)
  }
  const allowed = [...entries.values()].sort((a, b) => (b.requests > 0 ? 1 : 0) - (a.requests > 0 ? 1 : 0) || b.lastUsed.localeCompare(a.lastUsed) || a.label.localeCompare(b.label))
  return { request, allowed, didWithoutGrant: [...without.values()].sort((a, b) => b.lastUsed.localeCompare(a.lastUsed)) }
}

export type { Subject }
