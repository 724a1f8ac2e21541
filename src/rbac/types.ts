/**
 * @module The RBAC objects (rbac.authorization.k8s.io/v1) as kubetrail reads them, and the
 * request attributes the authorizer decides on. Only the fields authorization looks at are kept.
 */

export const RBAC_GROUP = 'rbac.authorization.k8s.io'
export const RBAC_KINDS = ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'] as const
export type RbacKind = (typeof RBAC_KINDS)[number]

export interface PolicyRule {
  verbs: string[]
  apiGroups: string[]
  resources: string[]
  resourceNames: string[]
  nonResourceURLs: string[]
}

export interface LabelSelectorRequirement {
  key: string
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'
  values: string[]
}

export interface LabelSelector {
  matchLabels: Record<string, string>
  matchExpressions: LabelSelectorRequirement[]
}

export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount' | string
  name: string
  /** ServiceAccount subjects only; in a RoleBinding an empty namespace means the binding's. */
  namespace: string
}

export interface RoleRef {
  kind: 'Role' | 'ClusterRole' | string
  name: string
}

export interface Role {
  kind: 'Role'
  name: string
  namespace: string
  labels: Record<string, string>
  rules: PolicyRule[]
}

export interface ClusterRole {
  kind: 'ClusterRole'
  name: string
  labels: Record<string, string>
  rules: PolicyRule[]
  /** Set when the role's rules are the union of the ClusterRoles these selectors pick. */
  aggregationRule?: { clusterRoleSelectors: LabelSelector[] }
}

export interface RoleBinding {
  kind: 'RoleBinding'
  name: string
  namespace: string
  subjects: Subject[]
  roleRef: RoleRef
}

export interface ClusterRoleBinding {
  kind: 'ClusterRoleBinding'
  name: string
  subjects: Subject[]
  roleRef: RoleRef
}

export type RbacObject = Role | ClusterRole | RoleBinding | ClusterRoleBinding
export type Binding = RoleBinding | ClusterRoleBinding

/** What the authorizer is asked (k8s.io/apiserver `authorizer.Attributes`, less the user). */
export interface AccessAttributes {
  verb: string
  isResourceRequest: boolean
  apiGroup: string
  resource: string
  subresource: string
  namespace: string
  name: string
  /** Non-resource requests: the URL path without the query string. */
  path: string
}

/** The user as authentication (or impersonation) left it. */
export interface UserInfo {
  name: string
  groups: readonly string[]
}

export function emptyRule(): PolicyRule {
  return { verbs: [], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [] }
}

/** `Kind namespace/name` or `Kind name`: how objects are named in messages and output. */
export function objectKey(o: { kind: string; name: string; namespace?: string }): string {
  return o.namespace ? `${o.kind} ${o.namespace}/${o.name}` : `${o.kind} ${o.name}`
}

const SA_PREFIX = 'system:serviceaccount:'

/** `system:serviceaccount:NS:NAME` → [NS, NAME] (serviceaccount.SplitUsername), else undefined. */
export function splitServiceAccount(username: string): [namespace: string, name: string] | undefined {
  if (!username.startsWith(SA_PREFIX)) return undefined
  const rest = username.slice(SA_PREFIX.length)
  const parts = rest.split(':')
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined
  return [parts[0]!, parts[1]!]
}

export function serviceAccountUser(namespace: string, name: string): string {
  return `${SA_PREFIX}${namespace}:${name}`
}

/** The groups every service account token carries (serviceaccount.MakeGroupNames + authenticated). */
export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated']
}
