/**
 * @module Built-in Kubernetes resources as kubectl names them: plural, singular, short names and
 * API group. Used to read `--resource deploy` / `who delete deployment/x` the way kubectl does.
 */

export interface ResourceName {
  resource: string
  apiGroup: string
  subresource?: string
}

/** [plural, group, singular, ...short names] */
const TABLE: Array<[string, string, string, ...string[]]> = [
  ['pods', '', 'pod', 'po'], ['services', '', 'service', 'svc'], ['secrets', '', 'secret'], ['configmaps', '', 'configmap', 'cm'],
  ['serviceaccounts', '', 'serviceaccount', 'sa'], ['namespaces', '', 'namespace', 'ns'], ['nodes', '', 'node', 'no'],
  ['endpoints', '', 'endpoints', 'ep'], ['events', '', 'event', 'ev'], ['persistentvolumes', '', 'persistentvolume', 'pv'],
  ['persistentvolumeclaims', '', 'persistentvolumeclaim', 'pvc'], ['replicationcontrollers', '', 'replicationcontroller', 'rc'],
  ['resourcequotas', '', 'resourcequota', 'quota'], ['limitranges', '', 'limitrange', 'limits'],
  ['deployments', 'apps', 'deployment', 'deploy'], ['daemonsets', 'apps', 'daemonset', 'ds'], ['statefulsets', 'apps', 'statefulset', 'sts'],
  ['replicasets', 'apps', 'replicaset', 'rs'], ['controllerrevisions', 'apps', 'controllerrevision'],
  ['jobs', 'batch', 'job'], ['cronjobs', 'batch', 'cronjob', 'cj'],
  ['roles', 'rbac.authorization.k8s.io', 'role'], ['rolebindings', 'rbac.authorization.k8s.io', 'rolebinding'],
  ['clusterroles', 'rbac.authorization.k8s.io', 'clusterrole'], ['clusterrolebindings', 'rbac.authorization.k8s.io', 'clusterrolebinding'],
  ['networkpolicies', 'networking.k8s.io', 'networkpolicy', 'netpol'], ['ingresses', 'networking.k8s.io', 'ingress', 'ing'],
  ['ingressclasses', 'networking.k8s.io', 'ingressclass'],
  ['tokenreviews', 'authentication.k8s.io', 'tokenreview'], ['subjectaccessreviews', 'authorization.k8s.io', 'subjectaccessreview'],
  ['selfsubjectaccessreviews', 'authorization.k8s.io', 'selfsubjectaccessreview'], ['selfsubjectrulesreviews', 'authorization.k8s.io', 'selfsubjectrulesreview'],
  ['localsubjectaccessreviews', 'authorization.k8s.io', 'localsubjectaccessreview'],
  ['leases', 'coordination.k8s.io', 'lease'], ['endpointslices', 'discovery.k8s.io', 'endpointslice'],
  ['poddisruptionbudgets', 'policy', 'poddisruptionbudget', 'pdb'], ['customresourcedefinitions', 'apiextensions.k8s.io', 'customresourcedefinition', 'crd', 'crds'],
  ['horizontalpodautoscalers', 'autoscaling', 'horizontalpodautoscaler', 'hpa'], ['storageclasses', 'storage.k8s.io', 'storageclass', 'sc'],
  ['certificatesigningrequests', 'certificates.k8s.io', 'certificatesigningrequest', 'csr'],
  ['mutatingwebhookconfigurations', 'admissionregistration.k8s.io', 'mutatingwebhookconfiguration'],
  ['validatingwebhookconfigurations', 'admissionregistration.k8s.io', 'validatingwebhookconfiguration'],
  ['priorityclasses', 'scheduling.k8s.io', 'priorityclass', 'pc'], ['apiservices', 'apiregistration.k8s.io', 'apiservice'],
  ['podsecuritypolicies', 'policy', 'podsecuritypolicy', 'psp'], ['runtimeclasses', 'node.k8s.io', 'runtimeclass'],
  ['volumeattachments', 'storage.k8s.io', 'volumeattachment'], ['csidrivers', 'storage.k8s.io', 'csidriver'], ['csinodes', 'storage.k8s.io', 'csinode'],
  ['selfsubjectreviews', 'authentication.k8s.io', 'selfsubjectreview'],
  ['validatingadmissionpolicies', 'admissionregistration.k8s.io', 'validatingadmissionpolicy'], ['validatingadmissionpolicybindings', 'admissionregistration.k8s.io', 'validatingadmissionpolicybinding'],
  ['flowschemas', 'flowcontrol.apiserver.k8s.io', 'flowschema'], ['prioritylevelconfigurations', 'flowcontrol.apiserver.k8s.io', 'prioritylevelconfiguration'],
]

const BY_NAME = new Map<string, { resource: string; apiGroup: string }>()
for (const [plural, group, ...aliases] of TABLE) for (const n of [plural, ...aliases]) BY_NAME.set(n, { resource: plural, apiGroup: group })

/** API group(s) a built-in resource is served under, or undefined for unknown resources. */
export function builtinGroupsOf(resource: string): readonly string[] | undefined {
  if (resource === 'events') return ['', 'events.k8s.io']
  const known = BY_NAME.get(resource)
  return known && known.resource === resource ? [known.apiGroup] : undefined
}

/**
 * Reads a kubectl-style resource: `deploy`, `deployment`, `deployments.apps`, `pods/exec`,
 * `widgets.example.com`. Unknown names are taken as plural resources of the core group unless
 * qualified with a group; `apiGroup` is undefined then when no group was given (any group).
 */
export function parseResourceName(text: string): { resource: string; apiGroup: string | undefined; subresource: string | undefined } {
  const [head, subresource] = text.split('/', 2) as [string, string | undefined]
  const dot = head.indexOf('.')
  const name = (dot < 0 ? head : head.slice(0, dot)).toLowerCase()
  const group = dot < 0 ? undefined : head.slice(dot + 1)
  const known = BY_NAME.get(name)
  if (known && (group === undefined || group === known.apiGroup)) return { resource: known.resource, apiGroup: known.apiGroup, subresource }
  return { resource: name, apiGroup: group, subresource }
}
