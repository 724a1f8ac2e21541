/**
 * @module The questions of the audit guide (seed 002), as named queries — each "done right"
 * where the guide's jq is wrong. A preset is a store-side `EventQuery` (fast, indexed columns)
 * plus, where the question depends on a body or on address ranges, a check of each event.
 */
import { isExternalIP, privilegedReasons, tokenReviewFailed, type AuditEvent } from '../model/index.js'
import { isJsonObject } from '../core/json.js'
import type { EventQuery } from '../store/index.js'

export interface QueryPreset {
  name: string
  question: string
  query: EventQuery
  /** Applied to every event the store returns for `query`. */
  accept?: (e: AuditEvent) => boolean
  /** The guide's jq filter; `jqIsRight` says whether the preset must select exactly what it does. */
  seedJq: string
  jqIsRight: boolean
  /** What the guide's jq gets wrong, when it does. */
  fixes?: string
}

const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection']

export const QUERY_PRESETS: readonly QueryPreset[] = [
  {
    name: 'secret-access',
    question: 'every request on Secrets',
    query: { resources: [{ apiGroup: '', resource: 'secrets' }] },
    seedJq: 'select(.objectRef.resource=="secrets")',
    jqIsRight: true,
  },
  {
    name: 'failed-auth',
    question: 'failed authentications: 401s at any stage, and TokenReviews that rejected a token',
    query: { authFailed: true },
    accept: (e) => e.responseStatus?.code === 401 || tokenReviewFailed(e),
    seedJq: 'select(.responseStatus.code >= 400 and .objectRef.resource=="tokenreviews")',
    jqIsRight: false,
    fixes: 'a failed login is a 401 (emitted at ResponseStarted, with no user); a TokenReview that rejects a token answers 201 without status.authenticated (and with status.error), never >= 400',
  },
  {
    name: 'exec',
    question: 'interactive access to pods: exec, attach, port-forward',
    query: { resources: ['exec', 'attach', 'portforward'].map((s) => ({ apiGroup: '', resource: 'pods', subresource: s })), verbs: ['create', 'get'] },
    seedJq: 'select(.objectRef.subresource=="exec" or .objectRef.subresource=="attach")',
    jqIsRight: false,
    fixes: 'port-forward was missing; both verbs count (kubectl >= 1.30 uses WebSockets: verb get)',
  },
  {
    name: 'privileged-pods',
    question: 'pods and pod templates that are privileged or use host namespaces or hostPath',
    // the stored privileged_pod is set only for requests on pods and workloads (carriesPodSpec)
    query: { verbs: ['create', 'update'], privilegedPod: true },
    accept: (e) => privilegedReasons(e.requestObject).length > 0,
    seedJq: 'select(.verb=="create" and .objectRef.resource=="pods") | select(.requestObject.spec.containers[].securityContext.privileged==true)',
    jqIsRight: false,
    fixes: 'also hostNetwork/hostPID/hostIPC/hostPath, init and ephemeral containers, updates, and workload pod templates; the jq errors on pods without securityContext',
  },
  {
    name: 'rbac-changes',
    question: 'changes to Roles, ClusterRoles and their bindings',
    query: { apiGroup: 'rbac.authorization.k8s.io', verbs: WRITE_VERBS },
    seedJq: 'select(.objectRef.apiGroup=="rbac.authorization.k8s.io" and (.verb=="create" or .verb=="update" or .verb=="delete"))',
    jqIsRight: false,
    fixes: 'patch (kubectl apply, edit) and deletecollection were missing',
  },
  {
    name: 'sensitive-resources',
    question: 'every request on Secrets, ServiceAccounts and RBAC objects',
    query: { resources: [{ apiGroup: '', resource: 'secrets' }, { apiGroup: '', resource: 'serviceaccounts' }, { apiGroup: 'rbac.authorization.k8s.io', resource: '*' }] },
    seedJq: 'select(.objectRef.resource=="secrets" or .objectRef.resource=="serviceaccounts" or (.objectRef.apiGroup=="rbac.authorization.k8s.io"))',
    jqIsRight: true,
  },
  {
    name: 'networkpolicy-deletions',
    question: 'NetworkPolicies deleted',
    query: { verbs: ['delete', 'deletecollection'], resources: [{ apiGroup: 'networking.k8s.io', resource: 'networkpolicies' }] },
    seedJq: 'select(.verb=="delete" and .objectRef.resource=="networkpolicies")',
    jqIsRight: false,
    fixes: 'deletecollection also deletes NetworkPolicies',
  },
  {
    name: 'sa-token-creation',
    question: 'service-account tokens issued (TokenRequest)',
    query: { verbs: ['create'], resources: [{ apiGroup: '', resource: 'serviceaccounts', subresource: 'token' }] },
    seedJq: 'select(.verb=="create" and .objectRef.resource=="serviceaccounts/token")',
    jqIsRight: false,
    fixes: 'objectRef.resource is "serviceaccounts" and the subresource "token" is a separate field: the jq matches nothing',
  },
  {
    name: 'writes',
    question: 'every write',
    query: { verbs: WRITE_VERBS },
    seedJq: 'select(.verb=="create" or .verb=="update" or .verb=="delete" or .verb=="patch")',
    jqIsRight: false,
    fixes: 'deletecollection was missing',
  },
  {
    name: 'service-accounts',
    question: 'requests made by service accounts',
    query: { userPrefix: 'system:serviceaccount:' },
    seedJq: 'select(.user.username | startswith("system:serviceaccount:"))',
    jqIsRight: true,
  },
  {
    name: 'external-ips',
    question: 'requests from any address outside private, loopback, link-local and CGNAT ranges',
    query: { sourceExternal: true },
    accept: (e) => (e.sourceIPs ?? []).some(isExternalIP),
    seedJq: 'select(.sourceIPs[0] | startswith("10.") or startswith("192.168.") | not)',
    jqIsRight: false,
    fixes: 'checks every source IP, and knows 172.16/12, loopback, link-local, 100.64/10 and IPv6 private ranges (the jq calls 127.0.0.1 external)',
  },
]

export function findPreset(name: string): QueryPreset | undefined {
  return QUERY_PRESETS.find((p) => p.name === name)
}

/** Combines a preset with the user's own filters (both must hold). */
export function withPreset(user: EventQuery, preset: QueryPreset): EventQuery {
  const merged: EventQuery = { ...preset.query, ...user }
  for (const key of ['verbs', 'resources', 'codes', 'users', 'groups'] as const) {
    const a = preset.query[key] as unknown[] | undefined
    const b = user[key] as unknown[] | undefined
    if (a && b) {
      // both constrain the same field: keep what both allow
      const allowed = new Set(a.map(canonical))
      ;(merged as Record<string, unknown>)[key] = b.filter((x) => allowed.has(canonical(x)))
    }
  }
  return merged
}

function canonical(x: unknown): string {
  return isJsonObject(x) ? JSON.stringify(x, Object.keys(x).sort()) : JSON.stringify(x)
}
