/**
 * @module `kubetrail sql "SELECT …"`: read-only SQL over the stored events, for what the
 * presets do not cover.
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { renderTable } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { eventColumns, type StoreFlags } from '../../store/index.js'
import { LOGS_ARG, NO_REDACT_OPTION, openEventSource } from '../log-files.js'

interface SqlOptions extends StoreFlags {
  columns?: boolean
  redact?: boolean
}

/** -o json: one object per row, keyed by column name (`--columns`: {name, type} per column). */
const SQL_SCHEMA = Type.Array(Type.Record(Type.String(), Type.Unknown()))

function cell(v: unknown): string {
  if (v === null || v === undefined) return ''
  return typeof v === 'string' ? v : JSON.stringify(v)
}

/**
 * Column names as the user wrote them: DuckDB names `count(*)` `count_star()`; a name given
 * twice gets a suffix (JSON rows are objects: a repeated key would lose a column).
 */
export function columnLabels(columns: readonly string[]): string[] {
  const seen = new Map<string, number>()
  return columns.map((c) => {
    const name = c.replaceAll('count_star()', 'count(*)')
    const n = (seen.get(name) ?? 0) + 1
    seen.set(name, n)
    return n === 1 ? name : `${name}_${n}`
  })
}

export default defineCommand<SqlOptions>({
  path: ['sql'],
  summary: 'read-only SQL over the stored events (table `events`, one row per event)',
  description:
    'Runs exactly one query (SELECT, WITH … SELECT, FROM …, VALUES, DESCRIBE, SUMMARIZE, SHOW) in a sandbox that reads the committed segments (or the log files named) and nothing else; a statement that writes, attaches, loads, configures or reads files is refused with KT_SQL_NOT_READ_ONLY. Columns: see --columns or docs/store.md.\nColumn names are the aliases you give (AS n), else the expressions as written.',
  args: [{ name: '[statement]', description: 'a SELECT statement over `events`' }, LOGS_ARG],
  options: [{ flags: '--columns', description: 'list the columns of `events`' }, ...STORE_OPTIONS, NO_REDACT_OPTION],
  output: { schema: SQL_SCHEMA },
  examples: [
    'kubetrail sql "SELECT username, count(*) n FROM events WHERE verb = \'delete\' GROUP BY 1 ORDER BY n DESC"',
    'kubetrail sql "SELECT request_received_at, username, name FROM events WHERE resource = \'secrets\' AND code = 403" -o json',
    'kubetrail sql "SELECT verb, count(*) FROM events GROUP BY 1" /var/log/kubernetes/audit/',
    'kubetrail sql --columns',
  ],
  async handler([statement, ...logs], opts, ctx) {
    if (opts.columns) {
      const columns = (await eventColumns()).map((c) => ({ name: c.name, type: c.type }))
      return { report: { data: columns, text: () => renderTable(['COLUMN', 'TYPE'], columns.map((c) => [c.name, c.type])) } }
    }
    if (!statement) throw new UsageError('give a SELECT statement, or --columns')
    const warnings: string[] = []
    const { store, finish } = await openEventSource(logs, opts, ctx, warnings)
    let result
    try {
      result = await store.sql(statement)
    } finally {
      await store.close()
      finish()
    }
    const columns = columnLabels(result.columns)
    const data = result.rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])))
    const rows = result.rows
    return { report: { data, text: () => `${renderTable(columns, rows.map((r) => r.map(cell)))}\n(${rows.length.toLocaleString('en-US')} row${rows.length === 1 ? '' : 's'})\n` }, warnings }
  },
})
