/**
 * @module `kubetrail top --by FIELD`: the most frequent users, verbs, resources, endpoints,
 * source IPs, codes or clients among matching events (the guide's `sort | uniq -c | sort -rn`).
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { formatCount } from '../format.js'
import { renderTable } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { TOP_FIELDS, type TopField, type StoreFlags } from '../../store/index.js'
import { LOGS_ARG, openEventSource } from '../log-files.js'
import { FILTER_OPTIONS, parseFilters, type FilterOptions } from '../query-options.js'

interface TopOptions extends FilterOptions, StoreFlags {
  by: TopField
}

/** -o json: the most frequent values first, each with how many events carry it. */
const TOP_SCHEMA = Type.Array(Type.Object({ value: Type.String(), count: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }))

export default defineCommand<TopOptions>({
  path: ['top'],
  summary: 'most frequent users, verbs, resources, endpoints, source IPs, codes or clients',
  description: 'Counts stage events (a request logged at three stages counts three times); --stage ResponseComplete counts requests.',
  args: [LOGS_ARG],
  options: [
    { flags: '--by <field>', description: TOP_FIELDS.join('|'), default: 'user', choices: TOP_FIELDS },
    ...FILTER_OPTIONS.filter((o) => !o.flags.startsWith('--source-ip')),
    { flags: '--limit <n>', description: 'rows', default: '20' },
    ...STORE_OPTIONS,
  ],
  output: { schema: TOP_SCHEMA },
  examples: ['kubetrail top --by endpoint', 'kubetrail top --by user --verb delete /var/log/kubernetes/audit/', 'kubetrail top --by user --code 403 --since 24h', 'kubetrail top --by source-ip --stage ResponseComplete -o json'],
  async handler(logs, opts, ctx) {
    const { query } = parseFilters(opts)
    const limit = query.limit ?? 20
    if (limit < 1) throw new UsageError('--limit must be at least 1')
    const warnings: string[] = []
    const { store, finish } = await openEventSource(logs, opts, ctx, warnings)
    let rows
    try {
      const { limit: _l, ...q } = query
      rows = await store.top(opts.by, q, limit)
    } finally {
      await store.close()
      finish()
    }
    const text = () =>
      rows.length === 0
        ? 'No matching events.\n'
        : renderTable([{ header: 'COUNT', align: 'right' }, opts.by.toUpperCase()], rows.map((r) => [formatCount(r.count), r.value])) + '\n'
    return { report: { data: rows, text }, warnings }
  },
})
