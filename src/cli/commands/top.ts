/**
 * @module `kubetrail top --by FIELD`: the most frequent users, verbs, resources, endpoints,
 * source IPs, codes or clients among matching events (the guide's `sort | uniq -c | sort -rn`).
 */
import { defineCommand, DATA_DIR_OPTION } from '../command.js'
import { formatCount, table } from '../format.js'
import { UsageError } from '../../core/errors.js'
import { openStore, resolveDataDir, TOP_FIELDS, type TopField } from '../../store/index.js'
import { FILTER_OPTIONS, parseFilters, type FilterOptions } from '../query-options.js'

interface TopOptions extends FilterOptions {
  by: TopField
  json?: boolean
  dataDir?: string
}

export default defineCommand<TopOptions>({
  path: ['top'],
  summary: 'most frequent users, verbs, resources, endpoints, source IPs, codes or clients',
  args: [],
  options: [
    { flags: '--by <field>', description: TOP_FIELDS.join('|'), default: 'user', choices: TOP_FIELDS },
    ...FILTER_OPTIONS.filter((o) => !o.flags.startsWith('--source-ip')),
    { flags: '--limit <n>', description: 'rows', default: '20' },
    { flags: '--json', description: 'print [{"value", "count"}]' },
    DATA_DIR_OPTION,
  ],
  examples: ['kubetrail top --by endpoint', 'kubetrail top --by user --code 403 --since 24h', 'kubetrail top --by source-ip --stage ResponseComplete'],
  async handler(_args, opts, ctx) {
    const { query } = parseFilters(opts)
    const limit = query.limit ?? 20
    if (limit < 1) throw new UsageError('--limit must be at least 1')
    const store = await openStore(resolveDataDir(opts.dataDir, ctx.cwd))
    try {
      const { limit: _l, ...q } = query
      const rows = await store.top(opts.by, q, limit)
      if (opts.json) return { output: JSON.stringify(rows) + '\n' }
      if (rows.length === 0) return { output: 'No matching events.\n' }
      return { output: table(['COUNT', opts.by.toUpperCase()], rows.map((r) => [formatCount(r.count), r.value]), '') + '\n' }
    } finally {
      await store.close()
    }
  },
})
