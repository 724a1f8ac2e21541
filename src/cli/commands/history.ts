/**
 * @module `kubetrail history RESOURCE/NAME [-n NS]`: every change to one object over time — who,
 * when, with what result — and, where bodies were logged, what changed.
 */
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { UsageError } from '../../core/errors.js'
import { parseResourceName } from '../../model/index.js'
import type { StoredEvent, StoreFlags } from '../../store/index.js'
import { LOGS_ARG, NO_REDACT_OPTION, openEventSource } from '../log-files.js'
import { diffObjects, formatChange } from '../../query/index.js'
import { cleanCell } from '../output.js'
import { Type, type Static } from '@sinclair/typebox'

interface HistoryOptions extends StoreFlags {
  namespace?: string
  cluster?: string[]
  redact?: boolean
}

const CHANGES = ['create', 'update', 'patch', 'delete']

/** -o json: one entry per change request, oldest first. */
const HISTORY_SCHEMA = Type.Array(
  Type.Object(
    {
      time: Type.String({ description: 'requestReceivedTimestamp' }),
      verb: Type.String(),
      subresource: Type.Optional(Type.String()),
      user: Type.String({ description: 'authenticated user, "(unauthenticated)" when none' }),
      impersonatedUser: Type.Optional(Type.String()),
      sourceIPs: Type.Array(Type.String()),
      code: Type.Union([Type.Integer(), Type.Null()], { description: 'response code; null when no response was recorded' }),
      reason: Type.Optional(Type.String()),
      level: Type.String(),
      auditID: Type.String(),
      cluster: Type.String(),
      changes: Type.Array(Type.Object({ path: Type.String(), before: Type.Optional(Type.Unknown()), after: Type.Optional(Type.Unknown()) }, { additionalProperties: false }), {
        description: 'field changes against the previous version, where bodies were logged',
      }),
      patch: Type.Optional(Type.Unknown({ description: 'the patch as sent, when no resulting object was logged' })),
      note: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
)
type HistoryEntry = Static<typeof HISTORY_SCHEMA>[number]

function entryOf(r: StoredEvent): HistoryEntry {
  const e = r.event
  const code = e.responseStatus?.code
  return {
    time: e.requestReceivedTimestamp,
    verb: e.verb,
    ...(e.objectRef?.subresource ? { subresource: e.objectRef.subresource } : {}),
    user: e.user.username ?? '(unauthenticated)',
    ...(e.impersonatedUser?.username ? { impersonatedUser: e.impersonatedUser.username } : {}),
    sourceIPs: e.sourceIPs ?? [],
    code: code ?? null,
    ...(e.responseStatus?.reason ? { reason: e.responseStatus.reason } : {}),
    level: e.level,
    auditID: e.auditID,
    cluster: r.cluster,
    changes: [],
  }
}

/** Each change request, with what it changed against the version before it. */
function historyOf(requests: readonly StoredEvent[]): HistoryEntry[] {
  const out: HistoryEntry[] = []
  let state: unknown
  for (const r of requests) {
    const e = r.event
    const entry = entryOf(r)
    out.push(entry)
    if (entry.code === null || entry.code >= 400) continue
    if (e.verb === 'delete') {
      state = undefined // the response of a delete is a Status (or the object being finalized), not a new version
      continue
    }
    // the object after the change: the response where logged (RequestResponse), else the request body for create/update
    const after = e.responseObject ?? (e.verb === 'create' || e.verb === 'update' ? e.requestObject : undefined)
    if (e.verb === 'patch' && e.requestObject !== undefined && after === undefined) entry.patch = e.requestObject
    if (after !== undefined && !entry.subresource) {
      if (state !== undefined) entry.changes = diffObjects(state, after)
      state = after
    } else if (after === undefined && e.level === 'Metadata') entry.note = 'logged at Metadata: no body, so no diff'
  }
  return out
}

function renderHistory(entries: readonly HistoryEntry[]): string {
  const out: string[] = []
  for (const h of entries) {
    const who = `${h.user}${h.impersonatedUser ? ` as ${h.impersonatedUser}` : ''}`
    const sub = h.subresource ? ` (${h.subresource})` : ''
    const code = h.code ?? 0
    const failed = code >= 400 ? ` FAILED${h.reason ? ` (${h.reason})` : ''}` : ''
    out.push(cleanCell(`${h.time}  ${h.verb}${sub} by ${who} from ${h.sourceIPs.join(',')}: ${code || '?'}${failed}`))
    if (h.patch !== undefined) out.push(cleanCell(`    patch: ${JSON.stringify(h.patch).slice(0, 300)}`))
    for (const c of h.changes) out.push(cleanCell(`    ${formatChange(c)}`))
    if (h.note) out.push(`    (${h.note})`)
  }
  return out.join('\n') + '\n'
}

export default defineCommand<HistoryOptions>({
  path: ['history'],
  summary: "every change to one object over time: who, when, result, and what changed where bodies were logged",
  args: [{ name: '<object>', description: 'RESOURCE/NAME, e.g. deployment/webapp, cm/app-config, clusterrolebinding/bob-cluster-admin' }, LOGS_ARG],
  options: [{ flags: '-n, --namespace <ns>', description: 'namespace of the object' }, { flags: '--cluster <name>', description: 'cluster (repeatable)', repeatable: true }, ...STORE_OPTIONS, NO_REDACT_OPTION],
  output: { schema: HISTORY_SCHEMA },
  examples: ['kubetrail history deployment/webapp -n production', 'kubetrail history clusterrolebinding/bob-cluster-admin -o json', "kubetrail history cm/app-config -n production 'audit-*.log.gz' audit.log"],
  async handler([target, ...logs], opts, ctx) {
    const slash = target?.indexOf('/') ?? -1
    if (!target || slash < 0) throw new UsageError('give RESOURCE/NAME, e.g. deployment/webapp')
    const res = parseResourceName(target.slice(0, slash))
    const name = target.slice(slash + 1)
    const warnings: string[] = []
    const { store, finish } = await openEventSource(logs, opts, ctx, warnings)
    const found: StoredEvent[] = []
    try {
      const q = {
        verbs: CHANGES,
        // the object itself and its subresources (status, scale): all change it
        resources: [{ resource: res.resource, ...(res.apiGroup !== undefined ? { apiGroup: res.apiGroup } : {}) }],
        name,
        ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
        ...(opts.cluster?.length ? { clusters: opts.cluster } : {}),
        order: 'oldest' as const,
        perRequest: true,
      }
      for await (const e of store.query(q)) found.push(e)
    } finally {
      await store.close()
      finish()
    }
    const entries = historyOf(found)
    if (entries.length === 0) return { report: { data: [], text: () => `No change to ${target}${opts.namespace ? ` in ${opts.namespace}` : ''} is in ${logs.length > 0 ? 'the logs' : 'the store'}.\n` }, exitCode: 1, warnings }
    return { report: { data: entries, text: () => renderHistory(entries) }, warnings }
  },
})
