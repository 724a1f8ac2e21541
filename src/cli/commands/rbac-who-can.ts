/**
 * @module `kubetrail rbac who-can VERB RESOURCE[/NAME] [-n NS]`: who could (every subject the
 * grants allow, as the RBAC authorizer's subject locator finds them) beside who did (whether and
 * when each was authorized to do it in the trail), and who did it with no current grant.
 */
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { formatCount } from '../format.js'
import { outputFormat, renderTable } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { parseResourceName } from '../../model/index.js'
import { openStore, resolveStore, type StoreFlags } from '../../store/index.js'
import { allAccesses, loadGrants, whoCan, type AccessAttributes, type WhoCanResult } from '../../rbac/index.js'
import { parseWhen } from '../query-options.js'
import { CLUSTER_OPTION, clusterOf, GRANTS_OPTIONS, grantsSourceOptions, grantsWarnings, type GrantsFlags } from './rbac-common.js'
import { WHO_CAN_SCHEMA } from './rbac-schemas.js'

interface WhoCanFlags extends GrantsFlags, StoreFlags {
  namespace?: string
  name?: string
  since?: string
  cluster?: string
  output?: string
  json?: boolean
}

/** The question as the authorizer's attributes: `pods/exec`, `deployment/novelapp`, `deployments.apps`, or a URL `/metrics`. */
export function questionOf(verb: string, target: string, namespace: string | undefined, name: string | undefined): AccessAttributes {
  if (target.startsWith('/')) {
    if (namespace !== undefined || name !== undefined) throw new UsageError('a non-resource URL has no namespace or name')
    return { verb, isResourceRequest: false, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path: target }
  }
  // deployment/novelapp names an object unless the part after / is a known subresource form (pods/exec)
  const parsed = parseResourceName(target)
  const sub = parsed.subresource
  const isName = sub !== undefined && name === undefined && !/^(exec|attach|log|portforward|proxy|scale|status|eviction|binding|token|approval|finalize|ephemeral-containers|ephemeralcontainers|resize)$/.test(sub)
  return {
    verb,
    isResourceRequest: true,
    apiGroup: parsed.apiGroup ?? '',
    resource: parsed.resource,
    subresource: isName ? '' : (sub ?? ''),
    namespace: namespace ?? '',
    name: isName ? sub! : (name ?? ''),
    path: '',
  }
}

function describe(q: AccessAttributes): string {
  if (!q.isResourceRequest) return `${q.verb} ${q.path}`
  const res = `${q.apiGroup ? `${q.resource}.${q.apiGroup}` : q.resource}${q.subresource ? `/${q.subresource}` : ''}`
  return `${q.verb} ${res}${q.name ? ` named ${q.name}` : ''}${q.namespace ? ` in namespace ${q.namespace}` : ' (cluster-wide)'}`
}

export function whoCanDocument(result: WhoCanResult, grants: string) {
  return {
    grants,
    request: result.request,
    allowed: result.allowed.map(({ subject, label, via, requests, lastUsed, users }) => ({ subject, label, via, requests, lastUsed, users })),
    didWithoutGrant: result.didWithoutGrant,
  }
}
type WhoCanDocument = ReturnType<typeof whoCanDocument>

function text(doc: WhoCanDocument, window: string, wide: boolean): string {
  const did = doc.allowed.filter((e) => e.requests > 0).length
  let out = `Who can ${describe(doc.request)}: ${doc.allowed.length} subjects (grants: ${doc.grants}); ${did} of them did (${window}).\n\n`
  out += renderTable(
    ['SUBJECT', 'DID', { header: 'REQUESTS', align: 'right' }, 'LAST-USED', 'VIA', ...(wide ? ['USERS'] : [])],
    doc.allowed.map((e) => [e.label, e.requests > 0 ? 'yes' : 'no', formatCount(e.requests), e.lastUsed || '-', e.via.join(', '), ...(wide ? [e.users.join(', ')] : [])]),
  )
  if (doc.didWithoutGrant.length > 0) {
    out += '\n\nDid it, but no current grant allows them (the grants changed since, or another authorizer allowed it):\n'
    out += renderTable(['USER', { header: 'REQUESTS', align: 'right' }, 'LAST-USED', 'ALLOWED-BY'], doc.didWithoutGrant.map((d) => [d.user, formatCount(d.requests), d.lastUsed, d.reason || '-']))
  }
  return `${out}\n`
}

export default defineCommand<WhoCanFlags>({
  path: ['rbac', 'who-can'],
  summary: 'who could do VERB to RESOURCE (the grants) beside who did (the trail)',
  description:
    'Every subject the grants allow the request to (system:masters always), with the bindings that allow it, marked with whether and when it (for a group: a member) was authorized to do it. ' +
    'Also lists who did it though no current grant allows them. Grants come from --rbac FILE (a kubectl dump) or are rebuilt from the RBAC changes in the trail (--at for an earlier moment).',
  args: [
    { name: '<verb>', description: 'get, list, create, delete, impersonate, escalate, … or *' },
    { name: '<resource>', description: 'kubectl resource, optionally /NAME or /SUBRESOURCE: deployment/novelapp, pods/exec, secrets, roles.rbac.authorization.k8s.io; or a URL: /metrics' },
  ],
  options: [
    { flags: '-n, --namespace <ns>', description: 'the namespace (default: a cluster-wide request)' },
    { flags: '--name <name>', description: 'the object name' },
    { flags: '--since <when>', description: 'who did: requests since (30d, RFC 3339); default: everything stored' },
    ...GRANTS_OPTIONS,
    CLUSTER_OPTION,
    ...STORE_OPTIONS,
  ],
  output: { schema: WHO_CAN_SCHEMA },
  examples: ['kubetrail rbac who-can delete deployment/novelapp -n production', 'kubetrail rbac who-can create pods/exec -n production', 'kubetrail rbac who-can get secrets -n kube-system --rbac cluster-rbac.yaml', 'kubetrail rbac who-can get /metrics'],
  async handler([verb, target], opts, ctx) {
    outputFormat(opts)
    if (!verb || !target) throw new UsageError('who-can needs a verb and a resource, e.g. `kubetrail rbac who-can delete deployment/novelapp -n production`')
    const question = questionOf(verb, target, opts.namespace, opts.name)
    const since = opts.since ? parseWhen(opts.since, '--since') : undefined
    const store = await openStore(resolveStore(opts, ctx.cwd))
    let doc: WhoCanDocument
    let warnings: string[]
    try {
      const cluster = await clusterOf(store, opts.cluster)
      const loaded = await loadGrants(store, grantsSourceOptions(opts, ctx.cwd, cluster))
      warnings = grantsWarnings(loaded)
      const accesses = await allAccesses(store, { ...(cluster !== undefined ? { clusters: [cluster] } : {}), ...(since ? { since } : {}), ...(verb !== '*' ? { verbs: [verb] } : {}) })
      doc = whoCanDocument(whoCan(loaded.grants, question, accesses), loaded.source)
    } finally {
      await store.close()
    }
    const window = since ? `requests since ${since.toISOString()}` : 'every stored request'
    return { report: { data: doc, text: (wide: boolean) => text(doc, window, wide) }, warnings }
  },
})
