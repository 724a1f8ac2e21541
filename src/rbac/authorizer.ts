/**
 * @module The RBAC authorizer's decision, as kube-apiserver makes it: a reading of
 * `pkg/apis/rbac/v1/evaluation_helpers.go` (rule matching), `pkg/registry/rbac/validation/rule.go`
 * (which bindings apply to a user in a namespace, and how a binding's role is found),
 * `plugin/pkg/auth/authorizer/rbac/rbac.go` (`RuleAllows`, the "allowed by" reason) and
 * `subject_locator.go` (every subject a request is allowed to). The superuser group
 * `system:masters` is allowed everything before RBAC is asked, as the apiserver's authorizer chain
 * does (`authorizerfactory.NewPrivilegedGroups`). Other authorizers (Node, webhook, ABAC) are not
 * modelled: docs/rbac.md says what that means.
 */
import type { Grants } from './grants.js'
import type { AccessAttributes, Binding, PolicyRule, Subject, UserInfo } from './types.js'

export const SUPERUSER_GROUP = 'system:masters'

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb)
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return rule.apiGroups.some((g) => g === '*' || g === group)
}

/** `*`, the exact `resource[/subresource]`, or `*\/subresource` for any resource's subresource. */
export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources) {
    if (r === '*' || r === combined) return true
    if (subresource !== '' && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true
  }
  return false
}

/** No names: any name (and none). Names: only those, so never a request without a name (create, list). */
export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  return rule.resourceNames.length === 0 || rule.resourceNames.includes(name)
}

/** `*`, the exact path, or a prefix ending in `*` (the apiserver trims every trailing `*`). */
export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs) {
    if (u === '*' || u === path) return true
    if (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))) return true
  }
  return false
}

export function combinedResource(a: Pick<AccessAttributes, 'resource' | 'subresource'>): string {
  return a.subresource === '' ? a.resource : `${a.resource}/${a.subresource}`
}

export function ruleAllows(rule: PolicyRule, a: AccessAttributes): boolean {
  if (a.isResourceRequest)
    return verbMatches(rule, a.verb) && apiGroupMatches(rule, a.apiGroup) && resourceMatches(rule, combinedResource(a), a.subresource) && resourceNameMatches(rule, a.name)
  return verbMatches(rule, a.verb) && nonResourceURLMatches(rule, a.path)
}

/**
 * Whether a binding's subject is this user. A ServiceAccount subject without a namespace means
 * the RoleBinding's own namespace; in a ClusterRoleBinding it matches nobody.
 */
export function subjectMatches(user: UserInfo, subject: Subject, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.name === subject.name
    case 'Group':
      return user.groups.includes(subject.name)
    case 'ServiceAccount': {
      const ns = subject.namespace !== '' ? subject.namespace : bindingNamespace
      return ns !== '' && user.name === `system:serviceaccount:${ns}:${subject.name}`
    }
    default:
      return false
  }
}

/** The first subject of the binding that is this user (the one the apiserver names in its reason). */
export function matchingSubject(user: UserInfo, binding: Binding): Subject | undefined {
  const ns = binding.kind === 'RoleBinding' ? binding.namespace : ''
  return binding.subjects.find((s) => subjectMatches(user, s, ns))
}

/** What allowed a request: a binding, its role and rule, or the superuser group. */
export interface Grant {
  binding?: Binding
  subject?: Subject
  rule?: PolicyRule
  ruleIndex?: number
  /** `system:masters` membership (no binding involved). */
  superuser?: boolean
}

export interface Decision {
  allowed: boolean
  grant?: Grant
  /** The apiserver's `authorization.k8s.io/reason` for an RBAC allow ("" for the superuser group). */
  reason: string
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} "${s.name}/${s.namespace !== '' ? s.namespace : bindingNamespace}"`
  return `${s.kind} "${s.name}"`
}

/** The apiserver's "RBAC: allowed by …" text for a grant. */
export function allowedReason(binding: Binding, subject: Subject): string {
  const ns = binding.kind === 'RoleBinding' ? binding.namespace : ''
  const name = binding.kind === 'RoleBinding' ? `${binding.name}/${binding.namespace}` : binding.name
  return `RBAC: allowed by ${binding.kind} "${name}" of ${binding.roleRef.kind} "${binding.roleRef.name}" to ${describeSubject(subject, ns)}`
}

/**
 * Every (binding, rule) that applies to the user in the namespace, in the apiserver's order:
 * ClusterRoleBindings first, then the namespace's RoleBindings. The visitor returns false to stop.
 */
export function visitRulesFor(grants: Grants, user: UserInfo, namespace: string, visit: (binding: Binding, subject: Subject, rule: PolicyRule, index: number) => boolean): void {
  for (const b of grants.clusterRoleBindings) {
    const subject = matchingSubject(user, b)
    if (!subject) continue
    const rules = grants.rulesOf(b.roleRef, '')
    if (!rules) continue
    for (let i = 0; i < rules.length; i++) if (!visit(b, subject, rules[i]!, i)) return
  }
  if (namespace === '') return
  for (const b of grants.roleBindingsIn(namespace)) {
    const subject = matchingSubject(user, b)
    if (!subject) continue
    const rules = grants.rulesOf(b.roleRef, namespace)
    if (!rules) continue
    for (let i = 0; i < rules.length; i++) if (!visit(b, subject, rules[i]!, i)) return
  }
}

export function authorize(grants: Grants, user: UserInfo, a: AccessAttributes, options: { superuser?: boolean } = {}): Decision {
  if ((options.superuser ?? true) && user.groups.includes(SUPERUSER_GROUP)) return { allowed: true, grant: { superuser: true }, reason: '' }
  let found: Decision | undefined
  visitRulesFor(grants, user, a.namespace, (binding, subject, rule, ruleIndex) => {
    if (!ruleAllows(rule, a)) return true
    found = { allowed: true, grant: { binding, subject, rule, ruleIndex }, reason: allowedReason(binding, subject) }
    return false
  })
  return found ?? { allowed: false, reason: '' }
}

/** A subject a request is allowed to, with the binding that allows it. */
export interface AllowedSubject {
  subject: Subject
  binding?: Binding
  /** The superuser group (`system:masters`), allowed everything without a binding. */
  superuser?: boolean
}

/**
 * Every subject the request is allowed to (`SubjectAccessEvaluator.AllowedSubjects`): the
 * superuser group, the subjects of each ClusterRoleBinding whose role allows it, and in the
 * request's namespace those of each RoleBinding (service accounts named without a namespace
 * resolved to the binding's). One entry per subject and binding.
 */
export function allowedSubjects(grants: Grants, a: AccessAttributes): AllowedSubject[] {
  const out: AllowedSubject[] = [{ subject: { kind: 'Group', name: SUPERUSER_GROUP, namespace: '' }, superuser: true }]
  const allows = (rules: readonly PolicyRule[] | undefined) => rules !== undefined && rules.some((r) => ruleAllows(r, a))
  for (const b of grants.clusterRoleBindings) {
    if (!allows(grants.rulesOf(b.roleRef, ''))) continue
    for (const s of b.subjects) if (s.kind !== 'ServiceAccount' || s.namespace !== '') out.push({ subject: s, binding: b })
  }
  if (a.namespace !== '')
    for (const b of grants.roleBindingsIn(a.namespace)) {
      if (!allows(grants.rulesOf(b.roleRef, a.namespace))) continue
      for (const s of b.subjects) out.push({ subject: s.kind === 'ServiceAccount' && s.namespace === '' ? { ...s, namespace: b.namespace } : s, binding: b })
    }
  return out
}
