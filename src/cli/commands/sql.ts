/**
 * @module `kubetrail sql "SELECT …"`: read-only SQL over the stored events, for what the
 * presets do not cover.
 */
import { defineCommand, DATA_DIR_OPTION } from '../command.js'
import { table } from '../format.js'
import { UsageError } from '../../core/errors.js'
import { eventColumns, openStore, resolveDataDir } from '../../store/index.js'

interface SqlOptions {
  json?: boolean
  columns?: boolean
  dataDir?: string
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return ''
  return typeof v === 'string' ? v : JSON.stringify(v)
}

export default defineCommand<SqlOptions>({
  path: ['sql'],
  summary: 'read-only SQL over the stored events (table `events`, one row per event)',
  description: 'The statement runs in a sandbox that can read the store and nothing else. Columns: see --columns or docs/store.md.',
  args: [{ name: '[statement]', description: 'a SELECT statement over `events`' }],
  options: [{ flags: '--json', description: 'print rows as JSON objects' }, { flags: '--columns', description: 'list the columns of `events`' }, DATA_DIR_OPTION],
  examples: [
    'kubetrail sql "SELECT username, count(*) n FROM events WHERE verb = \'delete\' GROUP BY 1 ORDER BY n DESC"',
    'kubetrail sql "SELECT request_received_at, username, name FROM events WHERE resource = \'secrets\' AND code = 403"',
    'kubetrail sql --columns',
  ],
  async handler([statement], opts, ctx) {
    if (opts.columns) return { output: table(['COLUMN', 'TYPE'], (await eventColumns()).map((c) => [c.name, c.type]), '') + '\n' }
    if (!statement) throw new UsageError('give a SELECT statement, or --columns')
    const store = await openStore(resolveDataDir(opts.dataDir, ctx.cwd))
    try {
      const { columns, rows } = await store.sql(statement)
      if (opts.json) return { output: JSON.stringify(rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])))) + '\n' }
      return { output: table(columns, rows.map((r) => r.map(cell)), '') + '\n' }
    } finally {
      await store.close()
    }
  },
})
