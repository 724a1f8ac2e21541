/**
 * @module The least RBAC that allows what an identity did: one rule per resource (and name set)
 * with the verbs it used, a Role and RoleBinding in each namespace it worked in, a ClusterRole and
 * ClusterRoleBinding for cluster-scoped resources, requests across all namespaces and non-resource
 * URLs. Only authorized requests are granted; refused ones are listed as asked for but not granted.
 * Requests every authenticated user may make anyway (discovery, /healthz, reviewing one's own
 * access: the built-in bindings to system:authenticated and system:unauthenticated) need no rule.
 * docs/rbac.md compares this with audit2rbac.
 */
import { authorize, combinedResource } from './authorizer.js'
import { bootstrapPolicy, Grants } from './grants.js'
import { toKubernetes } from './objects.js'
import type { Access, Identity } from './access.js'
import { accessIsBy, identityLabel } from './access.js'
import { type AccessAttributes, type ClusterRole, type ClusterRoleBinding, type PolicyRule, type RbacObject, type Role, type RoleBinding, type Subject } from './types.js'

export const EXPANSIONS = ['names', 'namespaces', 'verbs'] as const
export type Expansion = (typeof EXPANSIONS)[number]

/** audit2rbac's verb expansions: what a client that used one verb usually needs next. */
export const VERB_EXPANSIONS: Readonly<Record<string, readonly string[]>> = { watch: ['get', 'list'], list: ['get', 'watch'], update: ['get', 'patch'], patch: ['get', 'update'] }

export interface GenerateOptions {
  /** Use resourceNames when a verb on a resource touched at most this many names (default 3; 0: never). */
  maxNames?: number
  expand?: readonly Expansion[]
  /** Also write rules for what every user may do anyway (discovery, health, self-review). */
  includeDefault?: boolean
  /** Name of the generated objects (default `kubetrail:<identity>`). */
  name?: string
}

export interface RuleEvidence {
  rule: PolicyRule
  /** Requests this rule allows (each request counted once, by the rule that covers it). */
  requests: number
  firstUsed: string
  lastUsed: string
  /** Verbs added by --expand verbs, which no request used. */
  expandedVerbs: string[]
}

export interface GeneratedRole {
  kind: 'Role' | 'ClusterRole'
  name: string
  namespace?: string
  rules: RuleEvidence[]
}

export interface DeniedRequest {
  verb: string
  apiGroup: string
  resource: string
  namespace: string
  name: string
  path: string
  code: number
  requests: number
  lastAt: string
}

export interface GenerateResult {
  identity: string
  subject: Subject
  requests: { allowed: number; denied: number; unknown: number; allowedToEveryone: number }
  roles: GeneratedRole[]
  /** The Roles, ClusterRole and bindings, ready for `kubectl apply`. */
  objects: Record<string, unknown>[]
  denied: DeniedRequest[]
}

export function subjectOf(id: Identity): Subject {
  if (id.kind === 'ServiceAccount') return { kind: 'ServiceAccount', name: id.name, namespace: id.namespace }
  return { kind: id.kind, name: id.name, namespace: '' }
}

/** An object name from an identity: lower case, one `-` for what a name may not hold (as audit2rbac). */
export function objectNameFor(id: Identity): string {
  const raw = id.kind === 'ServiceAccount' ? `${id.namespace}:${id.name}` : id.name
  return `kubetrail:${raw.toLowerCase().replace(/[^a-z0-9:.-]+/g, '-')}`
}

let everyoneGrants: Grants | undefined

/** The built-in bindings to everyone (system:authenticated, system:unauthenticated) and their roles. */
export function grantsToEveryone(): Grants {
  if (!everyoneGrants) {
    const everyone = new Set(['system:authenticated', 'system:unauthenticated'])
    const objects = bootstrapPolicy()
    const bindings = objects.filter((o): o is ClusterRoleBinding => o.kind === 'ClusterRoleBinding' && o.subjects.length > 0 && o.subjects.every((s) => s.kind === 'Group' && everyone.has(s.name)))
    const roles = objects.filter((o) => o.kind === 'ClusterRole' && bindings.some((b) => b.roleRef.name === o.name))
    everyoneGrants = Grants.from([...roles, ...bindings], { bootstrap: false })
  }
  return everyoneGrants
}

interface Cell {
  scope: string
  apiGroup: string
  resource: string
  verb: string
  path: string
  names: Set<string>
  unnamed: boolean
  requests: number
  firstAt: string
  lastAt: string
}

const later = (a: string, b: string) => (a > b ? a : b)
const earlier = (a: string, b: string) => (a === '' ? b : a < b ? a : b)

function cellKey(scope: string, a: AccessAttributes): string {
  return a.isResourceRequest ? `${scope}\u0000${a.apiGroup}\u0000${combinedResource(a)}\u0000${a.verb}` : `${scope}\u0000\u0000\u0000${a.verb}\u0000${a.path}`
}

export function generateRbac(accesses: readonly Access[], id: Identity, options: GenerateOptions = {}): GenerateResult {
  const expand = new Set(options.expand ?? [])
  const maxNames = expand.has('names') ? 0 : (options.maxNames ?? 3)
  const mine = accesses.filter((a) => accessIsBy(a, id))
  const counts = { allowed: 0, denied: 0, unknown: 0, allowedToEveryone: 0 }
  const deniedByKey = new Map<string, DeniedRequest>()
  const needed: Access[] = []
  for (const a of mine) {
    if (a.outcome === 'unknown') counts.unknown += a.requests
    else if (a.outcome === 'denied') {
      counts.denied += a.requests
      const t = a.attributes
      const key = JSON.stringify([t.verb, t.apiGroup, combinedResource(t), t.namespace, t.name, t.path, a.code])
      const d = deniedByKey.get(key) ?? { verb: t.verb, apiGroup: t.apiGroup, resource: combinedResource(t), namespace: t.namespace, name: t.name, path: t.path, code: a.code, requests: 0, lastAt: '' }
      d.requests += a.requests
      d.lastAt = later(d.lastAt, a.lastAt)
      deniedByKey.set(key, d)
    } else {
      // an impersonation check is part of a request counted as the impersonated user's
      if (a.actingAs === undefined) counts.allowed += a.requests
      if (!options.includeDefault && authorize(grantsToEveryone(), a.user, a.attributes, { superuser: false }).allowed) counts.allowedToEveryone += a.requests
      else needed.push(a)
    }
  }
  // the same access in several namespaces becomes cluster-wide (--expand namespaces)
  const namespacesOf = new Map<string, Set<string>>()
  if (expand.has('namespaces'))
    for (const a of needed) {
      if (!a.attributes.isResourceRequest || a.attributes.namespace === '') continue
      const k = cellKey('', a.attributes)
      namespacesOf.set(k, (namespacesOf.get(k) ?? new Set()).add(a.attributes.namespace))
    }
  const cells = new Map<string, Cell>()
  for (const a of needed) {
    const t = a.attributes
    const wide = !t.isResourceRequest || t.namespace === '' || (namespacesOf.get(cellKey('', t))?.size ?? 0) > 1
    const scope = wide ? '' : t.namespace
    const key = cellKey(scope, t)
    const c = cells.get(key) ?? { scope, apiGroup: t.apiGroup, resource: t.isResourceRequest ? combinedResource(t) : '', verb: t.verb, path: t.path, names: new Set<string>(), unnamed: false, requests: 0, firstAt: '', lastAt: '' }
    if (t.isResourceRequest) {
      if (t.name === '') c.unnamed = true
      else c.names.add(t.name)
    }
    c.requests += a.requests
    c.firstAt = earlier(c.firstAt, a.firstAt)
    c.lastAt = later(c.lastAt, a.lastAt)
    cells.set(key, c)
  }
  const name = options.name ?? objectNameFor(id)
  const roles = buildRoles([...cells.values()], maxNames, expand.has('verbs'), name)
  const subject = subjectOf(id)
  const objects: RbacObject[] = []
  for (const r of roles) {
    const rules = r.rules.map((e) => e.rule)
    const labels = { 'kubetrail.io/generated': 'true' }
    if (r.kind === 'Role') objects.push({ kind: 'Role', name: r.name, namespace: r.namespace!, labels, rules } satisfies Role)
    else objects.push({ kind: 'ClusterRole', name: r.name, labels, rules } satisfies ClusterRole)
  }
  for (const r of roles) {
    if (r.kind === 'Role') objects.push({ kind: 'RoleBinding', name: r.name, namespace: r.namespace!, subjects: [subject], roleRef: { kind: 'Role', name: r.name } } satisfies RoleBinding)
    else objects.push({ kind: 'ClusterRoleBinding', name: r.name, subjects: [subject], roleRef: { kind: 'ClusterRole', name: r.name } } satisfies ClusterRoleBinding)
  }
  const evidenceOf = new Map(roles.map((r) => [`${r.kind}/${r.namespace ?? ''}/${r.name}`, r]))
  return {
    identity: identityLabel(id),
    subject,
    requests: counts,
    roles,
    objects: objects.map((o) => {
      const k = toKubernetes(o)
      const role = evidenceOf.get(`${o.kind}/${'namespace' in o ? o.namespace : ''}/${o.name}`)
      if (role) {
        const meta = k['metadata'] as Record<string, unknown>
        meta['annotations'] = {
          'kubetrail.io/generated-for': identityLabel(id),
          'kubetrail.io/rule-evidence': JSON.stringify(role.rules.map((e) => ({ requests: e.requests, firstUsed: e.firstUsed, lastUsed: e.lastUsed, ...(e.expandedVerbs.length ? { expandedVerbs: e.expandedVerbs } : {}) }))),
        }
      }
      return k
    }),
    denied: [...deniedByKey.values()].sort((a, b) => b.requests - a.requests || a.resource.localeCompare(b.resource) || a.path.localeCompare(b.path) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.verb.localeCompare(b.verb) || a.code - b.code),
  }
}

/** Cells → rules: verbs gathered per resource and name set, then resources with the same verbs and names merged. */
function buildRoles(cells: Cell[], maxNames: number, expandVerbs: boolean, name: string): GeneratedRole[] {
  const byScope = new Map<string, Cell[]>()
  for (const c of cells) byScope.set(c.scope, [...(byScope.get(c.scope) ?? []), c])
  const roles: GeneratedRole[] = []
  for (const scope of [...byScope.keys()].sort()) {
    const scoped = byScope.get(scope)!
    // resource requests: per (group, resource, names) the verbs
    const perResource = new Map<string, { apiGroup: string; resource: string; names: string[]; verbs: Set<string>; requests: number; firstAt: string; lastAt: string }>()
    const perPath = new Map<string, { path: string; verbs: Set<string>; requests: number; firstAt: string; lastAt: string }>()
    for (const c of scoped) {
      if (c.resource === '') {
        const p = perPath.get(c.path) ?? { path: c.path, verbs: new Set<string>(), requests: 0, firstAt: '', lastAt: '' }
        p.verbs.add(c.verb)
        p.requests += c.requests
        p.firstAt = earlier(p.firstAt, c.firstAt)
        p.lastAt = later(p.lastAt, c.lastAt)
        perPath.set(c.path, p)
        continue
      }
      const names = !c.unnamed && c.names.size > 0 && c.names.size <= maxNames ? [...c.names].sort() : []
      const key = `${c.apiGroup}\u0000${c.resource}\u0000${names.join('\u0000')}`
      const r = perResource.get(key) ?? { apiGroup: c.apiGroup, resource: c.resource, names, verbs: new Set<string>(), requests: 0, firstAt: '', lastAt: '' }
      r.verbs.add(c.verb)
      r.requests += c.requests
      r.firstAt = earlier(r.firstAt, c.firstAt)
      r.lastAt = later(r.lastAt, c.lastAt)
      perResource.set(key, r)
    }
    const rules: RuleEvidence[] = []
    const merged = new Map<string, RuleEvidence>()
    for (const r of [...perResource.values()].sort((a, b) => a.apiGroup.localeCompare(b.apiGroup) || a.resource.localeCompare(b.resource) || a.names.join(',').localeCompare(b.names.join(',')))) {
      const used = [...r.verbs].sort()
      const expandedVerbs = expandVerbs ? [...new Set(used.flatMap((v) => VERB_EXPANSIONS[v] ?? []))].filter((v) => !r.verbs.has(v)).sort() : []
      const verbs = [...used, ...expandedVerbs].sort()
      const key = `${r.apiGroup}\u0000${verbs.join(',')}\u0000${r.names.join('\u0000')}`
      const m = merged.get(key)
      if (m) {
        m.rule.resources.push(r.resource)
        m.requests += r.requests
        m.firstUsed = earlier(m.firstUsed, r.firstAt)
        m.lastUsed = later(m.lastUsed, r.lastAt)
        m.expandedVerbs = [...new Set([...m.expandedVerbs, ...expandedVerbs])].sort()
        continue
      }
      const e: RuleEvidence = { rule: { verbs, apiGroups: [r.apiGroup], resources: [r.resource], resourceNames: r.names, nonResourceURLs: [] }, requests: r.requests, firstUsed: r.firstAt, lastUsed: r.lastAt, expandedVerbs }
      merged.set(key, e)
      rules.push(e)
    }
    const urlRules = new Map<string, RuleEvidence>()
    for (const p of [...perPath.values()].sort((a, b) => a.path.localeCompare(b.path))) {
      const verbs = [...p.verbs].sort()
      const key = verbs.join(',')
      const m = urlRules.get(key)
      if (m) {
        m.rule.nonResourceURLs.push(p.path)
        m.requests += p.requests
        m.firstUsed = earlier(m.firstUsed, p.firstAt)
        m.lastUsed = later(m.lastUsed, p.lastAt)
        continue
      }
      const e: RuleEvidence = { rule: { verbs, apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [p.path] }, requests: p.requests, firstUsed: p.firstAt, lastUsed: p.lastAt, expandedVerbs: [] }
      urlRules.set(key, e)
      rules.push(e)
    }
    roles.push(scope === '' ? { kind: 'ClusterRole', name, rules } : { kind: 'Role', name, namespace: scope, rules })
  }
  // cluster-wide first, then namespaces in order
  return roles.sort((a, b) => (a.kind === b.kind ? (a.namespace ?? '').localeCompare(b.namespace ?? '') : a.kind === 'ClusterRole' ? -1 : 1))
}

