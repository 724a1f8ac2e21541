/**
 * @module `kubetrail rbac unused`: per subject of the bindings, the granted permissions no
 * authorized request used in the window, riskiest first, with the binding that grants each; and
 * the subjects with no request at all (dormant), with when they were last seen before the window.
 */
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { formatCount } from '../format.js'
import { outputFormat, renderTable } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { openStore, resolveStore, type EventQuery, type StoreFlags } from '../../store/index.js'
import { allAccesses, identityLabel, loadGrants, lastSeenBefore, unusedAccess, type Identity, type SubjectUsage, type UnusedResult } from '../../rbac/index.js'
import { parseWhen } from '../query-options.js'
import { CLUSTER_OPTION, clusterOf, GRANTS_OPTIONS, grantsSourceOptions, grantsWarnings, IDENTITY_OPTIONS, identityFrom, type GrantsFlags, type IdentityFlags } from './rbac-common.js'
import { UNUSED_SCHEMA } from './rbac-schemas.js'

interface UnusedFlags extends IdentityFlags, GrantsFlags, StoreFlags {
  since?: string
  cluster?: string
  includeBuiltin?: boolean
  top: string
  output?: string
  json?: boolean
}

const subjectIs = (s: SubjectUsage, id: Identity) => s.label === identityLabel(id)

export function unusedDocument(result: UnusedResult, since: string, grants: { source: string; objects: number }, lastSeen: ReadonlyMap<string, string>) {
  return {
    since,
    grants: { source: grants.source, objects: grants.objects, bindingsJudged: result.bindingsJudged },
    subjects: result.subjects.map((s) => ({
      subject: s.subject,
      label: s.label,
      bindings: s.bindings,
      requests: s.requests,
      lastSeen: s.lastSeen,
      granted: s.granted,
      used: s.used,
      unused: s.unused.map(({ verb, apiGroup, resource, resourceNames, url, binding, role, namespace, risk, riskReasons }) => ({ verb, apiGroup, resource, resourceNames, url, binding, role, namespace, risk, riskReasons })),
      dormant: s.dormant,
    })),
    dormant: result.dormant.map((s) => ({ subject: s.subject, label: s.label, bindings: s.bindings, lastSeenBefore: lastSeen.get(s.label) ?? '' })),
  }
}

type UnusedDocument = ReturnType<typeof unusedDocument>

function what(u: { verb: string; apiGroup: string; resource: string; url: string }): string {
  return u.url ? u.url : u.apiGroup && u.apiGroup !== '*' ? `${u.resource}.${u.apiGroup}` : u.apiGroup === '*' ? `${u.resource}.*` : u.resource
}

function text(doc: UnusedDocument, top: number, wide: boolean): string {
  if (doc.subjects.length === 0) return `No binding to judge in ${doc.grants.source} (the built-in system: bindings are left out; --include-builtin judges them too).\n`
  let out = `Grants: ${doc.grants.source}, ${formatCount(doc.grants.bindingsJudged)} bindings judged. Usage: ${doc.since}.\n\n`
  out += renderTable(
    ['SUBJECT', { header: 'REQUESTS', align: 'right' }, 'LAST-SEEN', { header: 'GRANTED', align: 'right' }, { header: 'USED', align: 'right' }, { header: 'UNUSED', align: 'right' }, { header: 'TOP-RISK', align: 'right' }, ...(wide ? ['BINDINGS'] : [])],
    doc.subjects.map((s) => [s.label, formatCount(s.requests), s.lastSeen || (s.dormant ? 'dormant' : '-'), formatCount(s.granted), formatCount(s.used), formatCount(s.unused.length), String(s.unused[0]?.risk ?? '-'), ...(wide ? [s.bindings.join(', ')] : [])]),
  )
  const all = doc.subjects.flatMap((s) => s.unused.map((u) => ({ ...u, subject: s.label }))).sort((a, b) => b.risk - a.risk || a.subject.localeCompare(b.subject))
  const shown = top > 0 ? all.slice(0, top) : all
  if (shown.length > 0) {
    out += `\n\nGranted, never used${top > 0 && all.length > top ? ` (the ${top} riskiest of ${formatCount(all.length)}; --top 0 for all, -o json for everything)` : ''}:\n`
    out += renderTable(
      [{ header: 'RISK', align: 'right' }, 'SUBJECT', 'VERB', 'RESOURCE/URL', 'NAMES', 'NAMESPACE', 'BINDING', ...(wide ? ['ROLE', 'WHY'] : [])],
      shown.map((u) => [String(u.risk), u.subject, u.verb, what(u), u.resourceNames.join(','), u.namespace || '(all)', u.binding, ...(wide ? [u.role, u.riskReasons.join('; ')] : [])]),
    )
  }
  if (doc.dormant.length > 0) {
    out += `\n\nDormant (bound, no request ${doc.since.startsWith('requests since') ? 'since then' : 'in the trail'}):\n`
    out += renderTable(['SUBJECT', 'LAST-SEEN-BEFORE', 'BINDINGS'], doc.dormant.map((d) => [d.label, d.lastSeenBefore || 'never', d.bindings.join(', ')]))
  }
  return `${out}\n`
}

export default defineCommand<UnusedFlags>({
  path: ['rbac', 'unused'],
  summary: 'granted permissions nobody used in the window, riskiest first, and the bound identities with no activity (dormant)',
  description:
    'For every subject of the bindings (the built-in system: bindings left out unless --include-builtin), each permission its roles grant (verb × resource × names, in the binding\'s namespace or cluster-wide) ' +
    'that no authorized request of that subject (for a group: of any member) used, ranked by risk (impersonate, escalate/bind, bindings, secrets, nodes/proxy, exec, wildcards…), with the binding that grants it. ' +
    'Grants come from --rbac FILE (a kubectl dump) or are rebuilt from the RBAC changes in the trail.',
  args: [],
  options: [
    { flags: '--since <when>', description: 'the usage window: requests since (90d, 24h, RFC 3339); default: everything stored' },
    ...GRANTS_OPTIONS,
    { flags: '--include-builtin', description: 'also judge the built-in system: bindings' },
    ...IDENTITY_OPTIONS.map((o) => ({ ...o, description: `only this subject: ${o.description}` })),
    { flags: '--top <n>', description: 'unused permissions shown in the table, riskiest first (0: all; -o json has all)', default: '25' },
    CLUSTER_OPTION,
    ...STORE_OPTIONS,
  ],
  output: { schema: UNUSED_SCHEMA },
  examples: ['kubetrail rbac unused --since 90d', 'kubetrail rbac unused --rbac cluster-rbac.yaml --since 30d -o wide', 'kubetrail rbac unused --serviceaccount ci/deployer -o json'],
  async handler(_args, opts, ctx) {
    outputFormat(opts)
    const top = Number(opts.top)
    if (!Number.isInteger(top) || top < 0) throw new UsageError(`--top must be a whole number >= 0, not "${opts.top}"`)
    const id = opts.user !== undefined || opts.serviceaccount !== undefined || opts.group !== undefined ? identityFrom(opts) : undefined
    const since = opts.since ? parseWhen(opts.since, '--since') : undefined
    const store = await openStore(resolveStore(opts, ctx.cwd))
    let doc: UnusedDocument
    let warnings: string[]
    try {
      const cluster = await clusterOf(store, opts.cluster)
      const clusters: EventQuery = cluster !== undefined ? { clusters: [cluster] } : {}
      const loaded = await loadGrants(store, grantsSourceOptions(opts, ctx.cwd, cluster))
      warnings = grantsWarnings(loaded)
      const accesses = await allAccesses(store, { ...clusters, ...(since ? { since } : {}) })
      const result = unusedAccess(loaded.grants, accesses, { includeBuiltin: opts.includeBuiltin === true })
      const picked: UnusedResult = id ? { ...result, subjects: result.subjects.filter((s) => subjectIs(s, id)), dormant: result.dormant.filter((s) => subjectIs(s, id)), unused: result.unused.filter((u) => u.subject === identityLabel(id)) } : result
      // dormant in the window: when was each last seen before it
      const lastSeen = since && picked.dormant.length > 0 ? lastSeenBefore(picked.dormant, await allAccesses(store, { ...clusters, until: since }, { names: false })) : new Map<string, string>()
      doc = unusedDocument(picked, since ? `requests since ${since.toISOString()}` : 'every stored request', loaded, lastSeen)
    } finally {
      await store.close()
    }
    return { report: { data: doc, text: (wide: boolean) => text(doc, top, wide) }, warnings }
  },
})
