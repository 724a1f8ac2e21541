/**
 * @module How dangerous a permission is, for ranking what to take away first: reading Secrets,
 * changing RBAC or bindings (escalate, bind), running commands in pods (exec, attach), reaching
 * kubelets (nodes/proxy), impersonation, minting tokens, admission webhooks, and wildcards, which
 * include all of these. A wildcard is judged by the worst thing it can match.
 */
import type { PolicyRule } from './types.js'

export interface Risk {
  score: number
  /** Why, in a few words (the worst matching reason first). */
  reasons: string[]
}

interface Entry {
  score: number
  reason: string
  verbs: readonly string[] | '*'
  groups: readonly string[] | '*'
  /** `resource` or `resource/subresource`; '*' any. */
  resources: readonly string[] | '*'
}

const READ = ['get', 'list', 'watch']
const WRITE = ['create', 'update', 'patch', 'delete', 'deletecollection']
const RBAC = 'rbac.authorization.k8s.io'

const TABLE: readonly Entry[] = [
  { score: 95, reason: 'impersonation', verbs: ['impersonate'], groups: ['', 'authentication.k8s.io'], resources: ['users', 'groups', 'serviceaccounts', 'uids', 'userextras'] },
  { score: 95, reason: 'RBAC escalate/bind', verbs: ['escalate', 'bind'], groups: [RBAC], resources: ['roles', 'clusterroles'] },
  { score: 90, reason: 'RBAC bindings write', verbs: ['create', 'update', 'patch'], groups: [RBAC], resources: ['rolebindings', 'clusterrolebindings'] },
  { score: 85, reason: 'RBAC roles write', verbs: ['create', 'update', 'patch'], groups: [RBAC], resources: ['roles', 'clusterroles'] },
  { score: 85, reason: 'kubelet API (nodes/proxy)', verbs: '*', groups: [''], resources: ['nodes/proxy'] },
  { score: 85, reason: 'secrets read', verbs: READ, groups: [''], resources: ['secrets'] },
  { score: 80, reason: 'exec/attach into pods', verbs: ['create', 'get'], groups: [''], resources: ['pods/exec', 'pods/attach'] },
  { score: 80, reason: 'service account tokens', verbs: ['create'], groups: [''], resources: ['serviceaccounts/token'] },
  { score: 80, reason: 'certificate approval', verbs: ['update', 'patch', 'approve'], groups: ['certificates.k8s.io'], resources: ['certificatesigningrequests/approval', 'signers'] },
  { score: 75, reason: 'admission webhooks write', verbs: WRITE, groups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations', 'validatingadmissionpolicies', 'validatingadmissionpolicybindings'] },
  { score: 65, reason: 'port-forward into pods', verbs: ['create', 'get'], groups: [''], resources: ['pods/portforward'] },
  { score: 60, reason: 'workloads (run as any service account in the namespace)', verbs: ['create', 'update', 'patch'], groups: ['', 'apps', 'batch'], resources: ['pods', 'deployments', 'daemonsets', 'statefulsets', 'replicasets', 'jobs', 'cronjobs', 'replicationcontrollers'] },
  { score: 60, reason: 'secrets write', verbs: WRITE, groups: [''], resources: ['secrets'] },
  { score: 55, reason: 'nodes write', verbs: WRITE, groups: [''], resources: ['nodes', 'nodes/status'] },
  { score: 50, reason: 'namespace deletion', verbs: ['delete', 'deletecollection'], groups: [''], resources: ['namespaces'] },
  { score: 50, reason: 'persistent volumes write (host paths)', verbs: WRITE, groups: [''], resources: ['persistentvolumes'] },
  { score: 40, reason: 'network policies write', verbs: WRITE, groups: ['networking.k8s.io'], resources: ['networkpolicies'] },
  { score: 30, reason: 'RBAC read', verbs: READ, groups: [RBAC], resources: ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'] },
]

const covers = (cellValue: string, allowed: readonly string[] | '*') => allowed === '*' || cellValue === '*' || allowed.includes(cellValue)

function resourceCovers(cell: string, allowed: readonly string[] | '*'): boolean {
  if (allowed === '*' || cell === '*') return true
  if (cell.startsWith('*/')) return allowed.some((r) => r.endsWith(cell.slice(1)))
  return allowed.includes(cell)
}

/** The risk of one verb on one resource (either may be `*`), in one API group (or `*`). */
export function permissionRisk(verb: string, apiGroup: string, resource: string): Risk {
  const matched = TABLE.filter((e) => covers(verb, e.verbs) && covers(apiGroup, e.groups) && resourceCovers(resource, e.resources)).sort((a, b) => b.score - a.score)
  const reasons = matched.map((e) => e.reason)
  let score = matched[0]?.score ?? (READ.includes(verb) ? 5 : 15)
  const wild = [verb, apiGroup, resource].filter((x) => x === '*').length
  if (wild > 0) {
    reasons.unshift(wild === 3 ? 'wildcard: everything' : 'wildcard')
    score = Math.min(100, score + 5 * wild)
  }
  return { score, reasons }
}

/** The risk of a non-resource URL permission: low, but `*` reaches /logs, /debug, /metrics. */
export function urlRisk(verb: string, url: string): Risk {
  if (url === '*' || url === '/*') return { score: 45, reasons: ['wildcard: every non-resource URL'] }
  if (/^\/(logs|debug)/.test(url)) return { score: 40, reasons: ['apiserver logs/debug endpoints'] }
  return { score: verb === 'get' ? 2 : 10, reasons: [] }
}

/** The worst cell of a rule. */
export function ruleRisk(rule: PolicyRule): Risk {
  let worst: Risk = { score: 0, reasons: [] }
  for (const v of rule.verbs) {
    for (const u of rule.nonResourceURLs) {
      const r = urlRisk(v, u)
      if (r.score > worst.score) worst = r
    }
    for (const g of rule.apiGroups)
      for (const res of rule.resources) {
        const r = permissionRisk(v, g, res)
        if (r.score > worst.score) worst = r
      }
  }
  return worst
}
