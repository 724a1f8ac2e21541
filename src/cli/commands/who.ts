/**
 * @module `kubetrail who VERB RESOURCE[/NAME] [-n NS]`: attribution, the runbook's question —
 * who did it, when, from where, with which client, with what result, as whom.
 */
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { renderTable } from '../output.js'
import { EVENT_LIST_SCHEMA } from '../event-output.js'
import { UsageError } from '../../core/errors.js'
import { parseResourceName, type AuditEvent } from '../../model/index.js'
import type { EventQuery, StoredEvent, StoreFlags } from '../../store/index.js'
import { LOGS_ARG, NO_REDACT_OPTION, openEventSource } from '../log-files.js'
import { parseWhen } from '../query-options.js'

interface WhoOptions extends StoreFlags {
  namespace?: string
  cluster?: string[]
  since?: string
  redact?: boolean
}

function result(e: AuditEvent): string {
  const s = e.responseStatus
  if (!s?.code) return '(no response recorded)'
  const ok = s.code < 400 ? 'succeeded' : 'FAILED'
  return `${s.code} ${ok}${s.reason ? ` (${s.reason})` : ''}`
}

export default defineCommand<WhoOptions>({
  path: ['who'],
  summary: 'who did VERB to RESOURCE/NAME: every matching request with user, time, source, client and result',
  description: 'Lists every matching request, oldest first, including failed attempts, and says when a request was made as an impersonated user.',
  args: [
    { name: '<verb>', description: 'create, update, patch, delete, get, … ("delete" also finds deletecollection)' },
    { name: '<resource>', description: 'kubectl resource, optionally /NAME: deployment/novelapp, secrets, cm/app-config' },
    LOGS_ARG,
  ],
  options: [
    { flags: '-n, --namespace <ns>', description: 'namespace of the object' },
    { flags: '--cluster <name>', description: 'cluster (repeatable)', repeatable: true },
    { flags: '--since <when>', description: 'only requests since (24h, 7d, RFC 3339)' },
    ...STORE_OPTIONS,
    NO_REDACT_OPTION,
  ],
  // -o json: the events of the matching requests (each request's latest stage), oldest first
  output: { schema: EVENT_LIST_SCHEMA },
  examples: ['kubetrail who delete deployment/novelapp -n production', 'kubetrail who delete deploy/x -n prod /var/log/kubernetes/audit/', 'kubetrail who create clusterrolebindings --since 7d', 'kubetrail who get secret/db-password -n production'],
  async handler([verb, target, ...logs], opts, ctx) {
    if (!verb || !target) throw new UsageError('who needs a verb and a resource, e.g. `kubetrail who delete deployment/novelapp -n production`')
    const slash = target.indexOf('/')
    const res = parseResourceName(slash < 0 ? target : target.slice(0, slash))
    const name = slash < 0 ? undefined : target.slice(slash + 1)
    const q: EventQuery = {
      verbs: verb === 'delete' && name === undefined ? ['delete', 'deletecollection'] : [verb],
      resources: [{ resource: res.resource, ...(res.apiGroup !== undefined ? { apiGroup: res.apiGroup } : {}), subresource: res.subresource ?? '' }],
      ...(name !== undefined ? { name } : {}),
      ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
      ...(opts.cluster?.length ? { clusters: opts.cluster } : {}),
      ...(opts.since ? { since: parseWhen(opts.since, '--since') } : {}),
      order: 'oldest',
      perRequest: true,
    }
    const warnings: string[] = []
    const { store, finish } = await openEventSource(logs, opts, ctx, warnings)
    const found: StoredEvent[] = []
    try {
      for await (const e of store.query(q)) found.push(e)
    } finally {
      await store.close()
      finish()
    }
    const requests = found
    const what = `${verb} ${res.apiGroup ? `${res.resource}.${res.apiGroup}` : res.resource}${name ? `/${name}` : ''}${opts.namespace ? ` in namespace ${opts.namespace}` : ''}`
    const data = requests.map((r) => r.event)
    if (requests.length === 0) return { report: { data, text: () => `No request to ${what} is in ${logs.length > 0 ? 'the logs' : 'the store'}.\n` }, exitCode: 1, warnings }
    const rows = requests.map((r) => {
      const e = r.event
      const who = e.user.username ?? '(unauthenticated)'
      return [e.requestReceivedTimestamp, e.impersonatedUser?.username ? `${who} (as ${e.impersonatedUser.username})` : who, (e.sourceIPs ?? []).join(','), e.userAgent ?? '', result(e), e.auditID]
    })
    const ok = requests.filter((r) => (r.event.responseStatus?.code ?? 0) < 400 && r.event.responseStatus?.code)
    const headline = ok.length > 0 ? `${what}: done by ${[...new Set(ok.map((r) => r.event.user.username ?? '(unauthenticated)'))].join(', ')}` : `${what}: attempted, never succeeded`
    return { report: { data, text: () => `${headline}\n\n${renderTable(['TIME', 'USER', 'SOURCE-IPS', 'CLIENT', 'RESULT', 'AUDIT-ID'], rows)}\n` }, warnings }
  },
})
