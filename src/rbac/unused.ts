/**
 * @module Granted but unused: for every subject of the bindings, each permission its roles grant
 * (verb × resource, with its names, in the binding's scope) that no authorized request of that
 * subject used in the window, ranked by risk, with the binding that grants it; and the subjects
 * with no request at all (dormant). The built-in bootstrap bindings are left out unless asked for
 * (the apiserver re-creates them; what matters is what people granted).
 */
import { ruleAllows } from './authorizer.js'
import { bootstrapPolicy, type Grants } from './grants.js'
import { permissionRisk, urlRisk, type Risk } from './risk.js'
import type { Access } from './access.js'
import type { AccessAttributes, Binding, PolicyRule, Subject } from './types.js'

export interface Permission {
  verb: string
  apiGroup: string
  /** `resource` or `resource/subresource` (may be `*`, `*\/sub`), or '' for a URL. */
  resource: string
  resourceNames: string[]
  /** A non-resource URL permission. */
  url: string
}

export interface UnusedPermission extends Permission {
  binding: string
  role: string
  /** The namespace the binding grants in; '' for a ClusterRoleBinding (every namespace and cluster-wide). */
  namespace: string
  risk: number
  riskReasons: string[]
}

export interface SubjectUsage {
  subject: Subject
  /** `User alice`, `ServiceAccount ci/deployer`, `Group developers`. */
  label: string
  bindings: string[]
  /** Authorized requests in the window (for a group: by any member). */
  requests: number
  lastSeen: string
  /** Granted permissions (cells) and how many were used. */
  granted: number
  used: number
  unused: UnusedPermission[]
  dormant: boolean
}

export interface UnusedOptions {
  /** Also judge the built-in bootstrap bindings (default: only the others). */
  includeBuiltin?: boolean
}

export interface UnusedResult {
  subjects: SubjectUsage[]
  /** Subjects with no authorized request in the window. */
  dormant: SubjectUsage[]
  /** Every unused permission of every subject, riskiest first. */
  unused: Array<UnusedPermission & { subject: string }>
  bindingsJudged: number
}

export function subjectLabel(s: Subject): string {
  return s.kind === 'ServiceAccount' ? `ServiceAccount ${s.namespace}/${s.name}` : `${s.kind} ${s.name}`
}

function bindingLabel(b: Binding): string {
  return b.kind === 'RoleBinding' ? `RoleBinding ${b.namespace}/${b.name}` : `ClusterRoleBinding ${b.name}`
}

/** The single permissions of a rule. */
export function permissionsOf(rule: PolicyRule): Permission[] {
  const out: Permission[] = []
  for (const verb of rule.verbs) {
    for (const url of rule.nonResourceURLs) out.push({ verb, apiGroup: '', resource: '', resourceNames: [], url })
    for (const apiGroup of rule.apiGroups) for (const resource of rule.resources) out.push({ verb, apiGroup, resource, resourceNames: rule.resourceNames, url: '' })
  }
  return out
}

function asRule(p: Permission): PolicyRule {
  return p.url ? { verbs: [p.verb], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [p.url] } : { verbs: [p.verb], apiGroups: [p.apiGroup], resources: [p.resource], resourceNames: p.resourceNames, nonResourceURLs: [] }
}

/** Accesses indexed for the question "did this subject use this permission". */
class AccessIndex {
  private readonly byUser = new Map<string, Access[]>()
  private readonly byGroup = new Map<string, Access[]>()
  constructor(accesses: readonly Access[]) {
    for (const a of accesses) {
      if (a.outcome !== 'allowed') continue
      push(this.byUser, a.user.name, a)
      for (const g of a.user.groups) push(this.byGroup, g, a)
    }
  }

  of(s: Subject, bindingNamespace: string): Access[] {
    if (s.kind === 'User') return this.byUser.get(s.name) ?? []
    if (s.kind === 'Group') return this.byGroup.get(s.name) ?? []
    if (s.kind === 'ServiceAccount') {
      const ns = s.namespace || bindingNamespace
      return ns ? (this.byUser.get(`system:serviceaccount:${ns}:${s.name}`) ?? []) : []
    }
    return []
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k)
  if (list) list.push(v)
  else m.set(k, [v])
}

function isBuiltin(b: Binding): boolean {
  return bootstrapPolicy().some((o) => o.kind === b.kind && o.name === b.name && ('namespace' in o ? o.namespace : '') === (b.kind === 'RoleBinding' ? b.namespace : '') && o.roleRef.kind === b.roleRef.kind && o.roleRef.name === b.roleRef.name)
}

const subjectKey = (s: Subject, ns: string) => `${s.kind}\u0000${s.kind === 'ServiceAccount' ? s.namespace || ns : ''}\u0000${s.name}`

export function unusedAccess(grants: Grants, accesses: readonly Access[], options: UnusedOptions = {}): UnusedResult {
  const index = new AccessIndex(accesses)
  const subjects = new Map<string, SubjectUsage>()
  const usedCells = new Map<string, Set<string>>()
  let judged = 0
  for (const b of grants.bindings) {
    if (!options.includeBuiltin && isBuiltin(b)) continue
    const ns = b.kind === 'RoleBinding' ? b.namespace : ''
    const rules = grants.rulesOf(b.roleRef, ns)
    if (!rules) continue
    judged++
    for (const raw of b.subjects) {
      // a service account named without a namespace: the binding's (none in a ClusterRoleBinding)
      if (raw.kind === 'ServiceAccount' && raw.namespace === '' && ns === '') continue
      const s: Subject = raw.kind === 'ServiceAccount' && raw.namespace === '' ? { ...raw, namespace: ns } : raw
      const key = subjectKey(s, ns)
      const usage = subjects.get(key) ?? { subject: s, label: subjectLabel(s), bindings: [], requests: 0, lastSeen: '', granted: 0, used: 0, unused: [], dormant: false }
      subjects.set(key, usage)
      usage.bindings.push(bindingLabel(b))
      const mine = index.of(s, ns).filter((a) => ns === '' || a.attributes.namespace === ns || !a.attributes.isResourceRequest)
      const cells = usedCells.get(key) ?? new Set<string>()
      usedCells.set(key, cells)
      for (const rule of rules)
        for (const p of permissionsOf(rule)) {
          const cellKey = `${bindingLabel(b)}\u0000${JSON.stringify(p)}`
          if (cells.has(cellKey)) continue
          cells.add(cellKey)
          usage.granted++
          const single = asRule(p)
          if (mine.some((a) => scopeFits(a.attributes, ns) && ruleAllows(single, a.attributes))) {
            usage.used++
            continue
          }
          const risk: Risk = p.url ? urlRisk(p.verb, p.url) : permissionRisk(p.verb, p.apiGroup, p.resource)
          usage.unused.push({ ...p, binding: bindingLabel(b), role: `${b.roleRef.kind} ${b.roleRef.name}`, namespace: ns, risk: risk.score, riskReasons: risk.reasons })
        }
    }
  }
  for (const usage of subjects.values()) {
    const s = usage.subject
    const all = index.of(s, s.kind === 'ServiceAccount' ? s.namespace : '')
    usage.requests = all.filter((a) => a.actingAs === undefined).reduce((n, a) => n + a.requests, 0)
    usage.lastSeen = all.reduce((t, a) => (a.lastAt > t ? a.lastAt : t), '')
    usage.dormant = usage.requests === 0
    usage.unused.sort((a, b) => b.risk - a.risk || a.binding.localeCompare(b.binding) || a.resource.localeCompare(b.resource) || a.verb.localeCompare(b.verb))
  }
  const list = [...subjects.values()].sort((a, b) => (b.unused[0]?.risk ?? 0) - (a.unused[0]?.risk ?? 0) || a.label.localeCompare(b.label))
  return {
    subjects: list,
    dormant: list.filter((s) => s.dormant),
    unused: list.flatMap((s) => s.unused.map((u) => ({ ...u, subject: s.label }))).sort((a, b) => b.risk - a.risk || a.subject.localeCompare(b.subject)),
    bindingsJudged: judged,
  }
}

/** A RoleBinding grants in its namespace only (non-resource URLs never: they are cluster-wide). */
function scopeFits(a: AccessAttributes, bindingNamespace: string): boolean {
  if (bindingNamespace === '') return true
  return a.isResourceRequest && a.namespace === bindingNamespace
}

/** When each subject (by label) was last authorized to do anything, among these accesses (those before a window). */
export function lastSeenBefore(subjects: readonly SubjectUsage[], before: readonly Access[]): Map<string, string> {
  const index = new AccessIndex(before)
  const out = new Map<string, string>()
  for (const s of subjects) {
    const last = index.of(s.subject, s.subject.kind === 'ServiceAccount' ? s.subject.namespace : '').reduce((t, a) => (a.lastAt > t ? a.lastAt : t), '')
    if (last) out.set(s.label, last)
  }
  return out
}
