/**
 * @module `kubetrail rbac generate`: the least RBAC that allows what an identity did, from the
 * stored trail. The document is a Kubernetes `List` of the objects, so `-o yaml` (with each
 * rule's evidence as a comment) and `-o json` go straight to `kubectl apply -f -`.
 */
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { formatCount } from '../format.js'
import { outputFormat, renderTable } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { openStore, resolveStore, type StoreFlags } from '../../store/index.js'
import { accessesOf, EXPANSIONS, generateRbac, manifestYaml, type Expansion, type GenerateResult } from '../../rbac/index.js'
import { parseWhen } from '../query-options.js'
import { CLUSTER_OPTION, clusterOf, IDENTITY_OPTIONS, identityFrom, type IdentityFlags } from './rbac-common.js'
import { GENERATE_SCHEMA } from './rbac-schemas.js'

interface GenerateFlags extends IdentityFlags, StoreFlags {
  since?: string
  until?: string
  cluster?: string
  maxNames: string
  expand?: string[]
  includeDefault?: boolean
  name?: string
  output?: string
  json?: boolean
}

/** The command's document: a v1 List that kubectl applies (it reads `items` only), and the summary beside them. */
export function generateDocument(result: GenerateResult, window: string) {
  const { objects, identity, subject, requests, roles, denied } = result
  return { apiVersion: 'v1' as const, kind: 'List' as const, metadata: {}, items: objects, summary: { identity, subject, window, requests, roles, denied } }
}

function text(result: GenerateResult, window: string, wide: boolean): string {
  const n = result.requests
  if (n.allowed + n.denied + n.unknown === 0) return `No request by ${result.identity} is in the store (${window}).\n`
  const rows = result.roles.flatMap((r) =>
    r.rules.map((e) => {
      const rule = e.rule
      const what = rule.nonResourceURLs.length ? rule.nonResourceURLs.join(',') : rule.resources.join(',')
      const group = rule.nonResourceURLs.length ? '(url)' : rule.apiGroups[0] === '' ? 'core' : rule.apiGroups.join(',')
      const base = [r.kind, r.namespace ?? '', group, what, rule.resourceNames.join(','), rule.verbs.join(','), formatCount(e.requests), e.lastUsed]
      return wide ? [...base, e.firstUsed, e.expandedVerbs.join(',')] : base
    }),
  )
  const head = ['KIND', 'NAMESPACE', 'GROUP', 'RESOURCES/URLS', 'NAMES', 'VERBS', { header: 'REQUESTS', align: 'right' as const }, 'LAST-USED', ...(wide ? ['FIRST-USED', 'EXPANDED'] : [])]
  let out = `${result.identity}, ${window}: ${formatCount(n.allowed)} authorized requests (${formatCount(n.allowedToEveryone)} allowed to every user anyway), ${formatCount(n.denied)} refused, ${formatCount(n.unknown)} without a decision.\n\n`
  out += rows.length ? `${renderTable(head, rows)}\n` : 'Nothing to grant: every authorized request is allowed to every user anyway.\n'
  if (result.denied.length) {
    const denied = result.denied.map((d) => [d.verb, d.path || (d.apiGroup ? `${d.resource}.${d.apiGroup}` : d.resource), d.namespace, d.name, String(d.code || '-'), formatCount(d.requests), d.lastAt])
    out += `\nAsked for but not granted:\n${renderTable(['VERB', 'RESOURCE/URL', 'NAMESPACE', 'NAME', 'CODE', { header: 'REQUESTS', align: 'right' }, 'LAST'], denied)}\n`
  }
  if (rows.length) out += '\nThe objects for kubectl apply: -o yaml (or -o json).\n'
  return out
}

export default defineCommand<GenerateFlags>({
  path: ['rbac', 'generate'],
  summary: 'the least RBAC (Roles, a ClusterRole, bindings) that allows what an identity did, from the trail',
  description:
    'Grants exactly the requests the apiserver authorized for the identity: verbs per resource, resourceNames when a verb touched at most --max-names objects, subresources, non-resource URLs. ' +
    'A Role and RoleBinding per namespace worked in; a ClusterRole and ClusterRoleBinding for cluster-scoped resources, requests across all namespaces and URLs. ' +
    'Refused requests are listed as asked for but not granted. Requests every user may make anyway (discovery, /healthz, self-review) need no rule. ' +
    '-o yaml prints the objects as a List for `kubectl apply`, each rule preceded by a comment with the requests that need it.',
  args: [],
  options: [
    ...IDENTITY_OPTIONS,
    { flags: '--since <when>', description: 'only requests since (30d, 24h, RFC 3339); default: everything stored' },
    { flags: '--until <when>', description: 'only requests before' },
    CLUSTER_OPTION,
    { flags: '--max-names <n>', description: 'use resourceNames when a verb on a resource touched at most this many names (0: never)', default: '3' },
    {
      flags: '--expand <what>',
      description: `widen the rules (repeatable): ${EXPANSIONS.join(', ')} (names: any name; namespaces: the same access in 2+ namespaces becomes cluster-wide; verbs: audit2rbac's read/write verb companions), or all`,
      repeatable: true,
    },
    { flags: '--include-default', description: 'also write rules for what every user may do anyway' },
    { flags: '--name <name>', description: 'name of the generated objects (default kubetrail:<identity>)' },
    ...STORE_OPTIONS,
  ],
  output: { schema: GENERATE_SCHEMA, ndjson: 'the generated objects, one per line' },
  examples: [
    'kubetrail rbac generate --serviceaccount ci/deployer --since 30d -o yaml | kubectl apply -f -',
    'kubetrail rbac generate --user alice@example.com',
    'kubetrail rbac generate --group developers --expand namespaces -o json',
  ],
  async handler(_args, opts, ctx) {
    const format = outputFormat(opts)
    const id = identityFrom(opts)
    const maxNames = Number(opts.maxNames)
    if (!Number.isInteger(maxNames) || maxNames < 0) throw new UsageError(`--max-names must be a whole number >= 0, not "${opts.maxNames}"`)
    const expand = (opts.expand ?? []).flatMap((e) => (e === 'all' ? [...EXPANSIONS] : e.split(',')))
    for (const e of expand) if (!(EXPANSIONS as readonly string[]).includes(e)) throw new UsageError(`--expand "${e}": one of ${EXPANSIONS.join(', ')}, all`)
    const since = opts.since ? parseWhen(opts.since, '--since') : undefined
    const until = opts.until ? parseWhen(opts.until, '--until') : undefined
    const store = await openStore(resolveStore(opts, ctx.cwd))
    let result: GenerateResult
    try {
      const cluster = await clusterOf(store, opts.cluster)
      const accesses = await accessesOf(store, id, { ...(cluster !== undefined ? { clusters: [cluster] } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}) })
      result = generateRbac(accesses, id, { maxNames, expand: expand as Expansion[], includeDefault: opts.includeDefault === true, ...(opts.name ? { name: opts.name } : {}) })
    } finally {
      await store.close()
    }
    const window = `${since ? `requests since ${since.toISOString()}` : 'every stored request'}${until ? ` until ${until.toISOString()}` : ''}`
    const n = result.requests
    const exitCode = n.allowed + n.denied + n.unknown === 0 ? 1 : 0
    const data = generateDocument(result, window)
    if (format === 'yaml') return { output: manifestYaml(result, data), exitCode }
    if (format === 'ndjson') return { output: result.objects.map((o) => JSON.stringify(o) + '\n').join(''), exitCode }
    return { report: { data, text: (wide: boolean) => text(result, window, wide) }, exitCode }
  },
})
