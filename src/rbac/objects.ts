/**
 * @module RBAC objects from their JSON form (a dump, a request or response body in the trail,
 * the built-in bootstrap set), checked field by field: what authorization reads must have the
 * type the apiserver gives it, and every problem names the field.
 */
import { RBAC_GROUP, type ClusterRole, type LabelSelector, type LabelSelectorRequirement, type PolicyRule, type RbacObject, type RoleRef, type Subject } from './types.js'

/** A problem with one object: the dotted path of the field, and what is wrong. */
export interface ObjectProblem {
  field: string
  message: string
}

export class ObjectInvalid extends Error {
  constructor(readonly problem: ObjectProblem) {
    super(`${problem.field}: ${problem.message}`)
  }
}

type Json = unknown

function isMap(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str(v: Json, field: string, required = false): string {
  if (v === undefined || v === null) {
    if (required) throw new ObjectInvalid({ field, message: 'is required' })
    return ''
  }
  if (typeof v !== 'string') throw new ObjectInvalid({ field, message: `must be a string, not ${JSON.stringify(v)}` })
  return v
}

/** A list of strings; null and absent are empty, as Go decodes them. */
function strings(v: Json, field: string): string[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new ObjectInvalid({ field, message: 'must be a list of strings' })
  return v.map((x, i) => str(x, `${field}[${i}]`, true))
}

function stringMap(v: Json, field: string): Record<string, string> {
  if (v === undefined || v === null) return {}
  if (!isMap(v)) throw new ObjectInvalid({ field, message: 'must be a map of strings' })
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(v)) out[k] = str(x, `${field}.${k}`)
  return out
}

function list(v: Json, field: string): Json[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new ObjectInvalid({ field, message: 'must be a list' })
  return v
}

function map(v: Json, field: string): Record<string, Json> {
  if (!isMap(v)) throw new ObjectInvalid({ field, message: 'must be a map' })
  return v
}

export function policyRuleFrom(v: Json, field: string): PolicyRule {
  const r = map(v, field)
  return {
    verbs: strings(r['verbs'], `${field}.verbs`),
    apiGroups: strings(r['apiGroups'], `${field}.apiGroups`),
    resources: strings(r['resources'], `${field}.resources`),
    resourceNames: strings(r['resourceNames'], `${field}.resourceNames`),
    nonResourceURLs: strings(r['nonResourceURLs'], `${field}.nonResourceURLs`),
  }
}

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist'])

function selectorFrom(v: Json, field: string): LabelSelector {
  const s = map(v, field)
  const matchExpressions = list(s['matchExpressions'], `${field}.matchExpressions`).map((e, i): LabelSelectorRequirement => {
    const f = `${field}.matchExpressions[${i}]`
    const m = map(e, f)
    const operator = str(m['operator'], `${f}.operator`, true)
    if (!OPERATORS.has(operator)) throw new ObjectInvalid({ field: `${f}.operator`, message: `"${operator}" is not one of In, NotIn, Exists, DoesNotExist` })
    return { key: str(m['key'], `${f}.key`, true), operator: operator as LabelSelectorRequirement['operator'], values: strings(m['values'], `${f}.values`) }
  })
  return { matchLabels: stringMap(s['matchLabels'], `${field}.matchLabels`), matchExpressions }
}

function subjectFrom(v: Json, field: string): Subject {
  const s = map(v, field)
  return { kind: str(s['kind'], `${field}.kind`, true), name: str(s['name'], `${field}.name`, true), namespace: str(s['namespace'], `${field}.namespace`) }
}

function roleRefFrom(v: Json, field: string): RoleRef {
  const r = map(v, field)
  const kind = str(r['kind'], `${field}.kind`, true)
  if (kind !== 'Role' && kind !== 'ClusterRole') throw new ObjectInvalid({ field: `${field}.kind`, message: `must be Role or ClusterRole, not "${kind}"` })
  return { kind, name: str(r['name'], `${field}.name`, true) }
}

/** The RBAC kinds; anything else is not ours (undefined). Throws ObjectInvalid for a broken RBAC object. */
export function rbacObjectFrom(v: Json): RbacObject | undefined {
  const o = map(v, '(object)')
  const kind = o['kind']
  const apiVersion = typeof o['apiVersion'] === 'string' ? o['apiVersion'] : `${RBAC_GROUP}/v1`
  if (!apiVersion.startsWith(`${RBAC_GROUP}/`)) return undefined
  if (kind !== 'Role' && kind !== 'ClusterRole' && kind !== 'RoleBinding' && kind !== 'ClusterRoleBinding') return undefined
  const meta = map(o['metadata'], 'metadata')
  const name = str(meta['name'], 'metadata.name', true)
  const namespaced = kind === 'Role' || kind === 'RoleBinding'
  const namespace = str(meta['namespace'], 'metadata.namespace', namespaced)
  const labels = stringMap(meta['labels'], 'metadata.labels')
  switch (kind) {
    case 'Role':
      return { kind, name, namespace, labels, rules: list(o['rules'], 'rules').map((r, i) => policyRuleFrom(r, `rules[${i}]`)) }
    case 'ClusterRole': {
      const role: ClusterRole = { kind, name, labels, rules: list(o['rules'], 'rules').map((r, i) => policyRuleFrom(r, `rules[${i}]`)) }
      const agg = o['aggregationRule']
      if (agg !== undefined && agg !== null) {
        const a = map(agg, 'aggregationRule')
        role.aggregationRule = { clusterRoleSelectors: list(a['clusterRoleSelectors'], 'aggregationRule.clusterRoleSelectors').map((s, i) => selectorFrom(s, `aggregationRule.clusterRoleSelectors[${i}]`)) }
      }
      return role
    }
    case 'RoleBinding':
      return { kind, name, namespace, subjects: list(o['subjects'], 'subjects').map((s, i) => subjectFrom(s, `subjects[${i}]`)), roleRef: roleRefFrom(o['roleRef'], 'roleRef') }
    case 'ClusterRoleBinding': {
      const roleRef = roleRefFrom(o['roleRef'], 'roleRef')
      if (roleRef.kind !== 'ClusterRole') throw new ObjectInvalid({ field: 'roleRef.kind', message: 'a ClusterRoleBinding can only refer to a ClusterRole' })
      return { kind, name, subjects: list(o['subjects'], 'subjects').map((s, i) => subjectFrom(s, `subjects[${i}]`)), roleRef }
    }
  }
}

/** The object in its Kubernetes JSON form (what `kubectl apply` reads). */
export function toKubernetes(o: RbacObject): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: o.name }
  if ('namespace' in o) metadata['namespace'] = o.namespace
  if ('labels' in o && Object.keys(o.labels).length > 0) metadata['labels'] = o.labels
  const base = { apiVersion: `${RBAC_GROUP}/v1`, kind: o.kind, metadata }
  const rule = (r: PolicyRule) => {
    const out: Record<string, string[]> = {}
    if (r.apiGroups.length || r.resources.length) out['apiGroups'] = r.apiGroups
    if (r.resources.length) out['resources'] = r.resources
    if (r.resourceNames.length) out['resourceNames'] = r.resourceNames
    if (r.nonResourceURLs.length) out['nonResourceURLs'] = r.nonResourceURLs
    out['verbs'] = r.verbs
    return out
  }
  switch (o.kind) {
    case 'Role':
      return { ...base, rules: o.rules.map(rule) }
    case 'ClusterRole':
      return { ...base, ...(o.aggregationRule ? { aggregationRule: o.aggregationRule } : {}), rules: o.rules.map(rule) }
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      return {
        ...base,
        roleRef: { apiGroup: RBAC_GROUP, kind: o.roleRef.kind, name: o.roleRef.name },
        subjects: o.subjects.map((s) => (s.kind === 'ServiceAccount' ? { kind: s.kind, name: s.name, namespace: s.namespace } : { apiGroup: RBAC_GROUP, kind: s.kind, name: s.name })),
      }
  }
}
