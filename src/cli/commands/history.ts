/**
 * @module `kubetrail history RESOURCE/NAME [-n NS]`: every change to one object over time — who,
 * when, with what result — and, where bodies were logged, what changed.
 */
import { defineCommand, DATA_DIR_OPTION } from '../command.js'
import { UsageError } from '../../core/errors.js'
import { parseResourceName } from '../../model/index.js'
import { openStore, resolveDataDir, type StoredEvent } from '../../store/index.js'
import { diffObjects, formatChange, oneEventPerRequest } from '../../query/index.js'

interface HistoryOptions {
  namespace?: string
  cluster?: string[]
  dataDir?: string
}

const CHANGES = ['create', 'update', 'patch', 'delete']

export default defineCommand<HistoryOptions>({
  path: ['history'],
  summary: "every change to one object over time: who, when, result, and what changed where bodies were logged",
  args: [{ name: '<object>', description: 'RESOURCE/NAME, e.g. deployment/webapp, cm/app-config, clusterrolebinding/bob-cluster-admin' }],
  options: [{ flags: '-n, --namespace <ns>', description: 'namespace of the object' }, { flags: '--cluster <name>', description: 'cluster (repeatable)', repeatable: true }, DATA_DIR_OPTION],
  examples: ['kubetrail history deployment/webapp -n production', 'kubetrail history clusterrolebinding/bob-cluster-admin'],
  async handler([target], opts, ctx) {
    const slash = target?.indexOf('/') ?? -1
    if (!target || slash < 0) throw new UsageError('give RESOURCE/NAME, e.g. deployment/webapp')
    const res = parseResourceName(target.slice(0, slash))
    const name = target.slice(slash + 1)
    const store = await openStore(resolveDataDir(opts.dataDir, ctx.cwd))
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
      }
      for await (const e of store.query(q)) found.push(e)
    } finally {
      await store.close()
    }
    const requests = oneEventPerRequest(found).sort((a, b) => a.event.requestReceivedTimestamp.localeCompare(b.event.requestReceivedTimestamp))
    if (requests.length === 0) return { output: `No change to ${target}${opts.namespace ? ` in ${opts.namespace}` : ''} is in the store.\n`, exitCode: 1 }
    const out: string[] = []
    let state: unknown
    for (const r of requests) {
      const e = r.event
      const code = e.responseStatus?.code ?? 0
      const who = `${e.user.username ?? '(unauthenticated)'}${e.impersonatedUser?.username ? ` as ${e.impersonatedUser.username}` : ''}`
      const sub = e.objectRef?.subresource ? ` (${e.objectRef.subresource})` : ''
      out.push(`${e.requestReceivedTimestamp}  ${e.verb}${sub} by ${who} from ${(e.sourceIPs ?? []).join(',')}: ${code || '?'}${code >= 400 ? ` FAILED${e.responseStatus?.reason ? ` (${e.responseStatus.reason})` : ''}` : ''}`)
      if (code >= 400) continue
      if (e.verb === 'delete') {
        state = undefined // the response of a delete is a Status (or the object being finalized), not a new version
        continue
      }
      // the object after the change: the response where logged (RequestResponse), else the request body for create/update
      const after = e.responseObject ?? (e.verb === 'create' || e.verb === 'update' ? e.requestObject : undefined)
      if (e.verb === 'patch' && e.requestObject !== undefined && after === undefined) out.push(`    patch: ${JSON.stringify(e.requestObject).slice(0, 300)}`)
      if (after !== undefined && !sub) {
        if (state !== undefined) for (const c of diffObjects(state, after)) out.push(`    ${formatChange(c)}`)
        state = after
      } else if (after === undefined && e.level === 'Metadata') out.push('    (logged at Metadata: no body, so no diff)')
    }
    return { output: out.join('\n') + '\n' }
  },
})
