/**
 * @module `kubetrail sql`: one user-supplied statement, run so that it can only read the stored
 * events. The statement is attacker-controlled text (it also arrives through a running serve's
 * query socket, inside the collector), so every layer decides on DuckDB's own reading of it,
 * never on a pattern over the text:
 *
 * 1. DuckDB's parser splits the text into statements: exactly one is run (a second statement
 *    hidden after a `;` or behind a comment is refused, not ignored).
 * 2. DuckDB's parser serialises it (`json_serialize_sql`), which only a query survives; every
 *    table function it calls must be on a short list of pure ones. Some table functions act
 *    when they are bound, and `lock_configuration` does not stop them: `enable_logging`
 *    switched logging to files from inside a SELECT (measured on DuckDB 1.5).
 * 3. The prepared statement's type, as DuckDB's binder decided it, must be SELECT (PRAGMA,
 *    SHOW and DESCRIBE that DuckDB rewrites into a query pass; COPY, ATTACH, SET, CALL … do not).
 * 4. It runs in a fresh in-memory DuckDB whose file access is limited to exactly the committed
 *    segment files (or the log files a question names) (not their directory: an allowed directory may be written, and `COPY … TO` a
 *    committed segment overwrote it), external access, extension loading and configuration
 *    locked, and spill files in a private 0700 directory removed afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { duckdb, type DuckDBConnection, type DuckDBPreparedStatement } from './engine.js'
import { KubetrailError } from '../../core/errors.js'
import { SqlNotReadOnlyError } from '../errors.js'
import { COLUMNS, sqlString } from './columns.js'

/** A table name holding one of these is a file path or URL to DuckDB's replacement scans. */
const PATH_CHARACTERS = ['/', '\\', '.', ':', '~']

/**
 * Table functions a query may call: generators and helpers that read nothing but their
 * arguments, and DuckDB's catalog. Anything else (files, logging, checkpoints, `query()` over
 * another statement's text) is refused by name before DuckDB binds it.
 */
const PURE_TABLE_FUNCTIONS: ReadonlySet<string> = new Set([
  'range', 'generate_series', 'unnest', 'repeat', 'repeat_row', 'json_each', 'json_tree',
  'duckdb_columns', 'duckdb_tables', 'duckdb_views', 'duckdb_types', 'duckdb_functions', 'duckdb_keywords', 'pragma_table_info',
])

export interface SandboxOptions {
  memoryLimit: string
  threads: number
}

export interface SqlResult {
  columns: string[]
  rows: unknown[][]
}

/**
 * What the `events` view reads, when it is not committed segments: log files read where they
 * lie. `files` are the only paths the sandbox may open; `prepare` runs before the lock-down
 * (tables and functions the view needs), `view` is the SELECT the view is.
 */
export interface SandboxSource {
  files: readonly string[]
  prepare?: (c: DuckDBConnection) => Promise<void>
  view: string
}

/** Runs `statement` over the `events` view of `source` (committed segments as absolute paths, or a view of its own). */
export async function runReadOnlySql(source: readonly string[] | SandboxSource, statement: string, options: SandboxOptions): Promise<SqlResult> {
  const spill = mkdtempSync(join(tmpdir(), 'kubetrail-sql-'))
  const { DuckDBInstance } = duckdb()
  const db = await DuckDBInstance.create(':memory:', {
    threads: String(options.threads),
    memory_limit: options.memoryLimit,
    temp_directory: spill,
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  })
  const c = await db.connect()
  try {
    await lockDown(c, isSegments(source) ? { files: source, view: segmentsView(source) } : source)
    const prepared = await checkedStatement(c, statement)
    try {
      const reader = await run(() => prepared.runAndReadAll())
      return { columns: reader.columnNames(), rows: reader.getRowsJson() as unknown[][] }
    } finally {
      prepared.destroySync()
    }
  } finally {
    c.closeSync()
    db.closeSync()
    rmSync(spill, { recursive: true, force: true })
  }
}

function isSegments(source: readonly string[] | SandboxSource): source is readonly string[] {
  return Array.isArray(source)
}

function segmentsView(segmentFiles: readonly string[]): string {
  const cols = COLUMNS.map(([n]) => `"${n}"`).join(', ')
  return segmentFiles.length > 0
    ? `SELECT ${cols} FROM read_parquet([${segmentFiles.map(sqlString).join(', ')}])`
    : `SELECT ${COLUMNS.map(([n, t]) => `NULL::${t} AS "${n}"`).join(', ')} WHERE false`
}

async function lockDown(c: DuckDBConnection, source: SandboxSource): Promise<void> {
  await source.prepare?.(c)
  await c.run(`SET allowed_paths = [${source.files.map(sqlString).join(', ')}]`)
  await c.run('SET allowed_directories = []')
  await c.run('SET enable_external_access = false')
  await c.run('SET allow_community_extensions = false')
  await c.run(`CREATE VIEW events AS ${source.view}`)
  await c.run('SET lock_configuration = true')
}

/** The one statement of `text`, prepared, once every check passed. */
async function checkedStatement(c: DuckDBConnection, text: string): Promise<DuckDBPreparedStatement> {
  const extracted = await run(() => c.extractStatements(text)).catch(async (error: unknown) => {
    // DuckDB's extraction fails without a reason when there is no statement at all
    if ((await statementCount(c, text)) === 0) throw new KubetrailError('KT_USAGE', 'the statement is empty', { hint: 'Give one SELECT over `events`.', exitCode: 2 })
    throw error
  })
  if (extracted.count > 1) throw new SqlNotReadOnlyError(`the text holds ${extracted.count} statements; only one is run`)
  checkTree(await serialisedQuery(c, text))
  const prepared = await run(() => extracted.prepare(0))
  const { StatementType } = duckdb()
  if (prepared.statementType !== StatementType.SELECT) {
    prepared.destroySync()
    throw new SqlNotReadOnlyError(`DuckDB reads it as a ${StatementType[prepared.statementType] ?? prepared.statementType} statement, not a query`)
  }
  return prepared
}

interface SerialisedSql {
  error: boolean
  error_type?: string
  error_message?: string
  statements?: unknown[]
}

/** DuckDB's parser's JSON form of `text` (bound as a parameter: parsed, never bound or run). */
async function serialised(c: DuckDBConnection, text: string): Promise<SerialisedSql> {
  const p = await c.prepare('SELECT json_serialize_sql($1::VARCHAR)')
  try {
    p.bindVarchar(1, text)
    const [[json]] = (await p.runAndReadAll()).getRows() as [[string]]
    return JSON.parse(json) as SerialisedSql
  } finally {
    p.destroySync()
  }
}

async function statementCount(c: DuckDBConnection, text: string): Promise<number | undefined> {
  return (await serialised(c, text)).statements?.length
}

/** DuckDB's syntax tree of the one query in `text`. */
async function serialisedQuery(c: DuckDBConnection, text: string): Promise<unknown> {
  const tree = await serialised(c, text)
  if (tree.error) {
    if (tree.error_type === 'not implemented') throw new SqlNotReadOnlyError('it is not a query (only SELECT, WITH … SELECT, FROM …, VALUES, DESCRIBE, SUMMARIZE and SHOW are)')
    throw sqlError(new Error(`${tree.error_type ?? 'parser'} error: ${tree.error_message ?? ''}`))
  }
  if (tree.statements?.length !== 1) throw new SqlNotReadOnlyError('only one statement is run')
  return tree.statements[0]
}

/**
 * Refuses a query that calls a table function outside PURE_TABLE_FUNCTIONS, or names a file as a
 * table (`FROM '/etc/passwd'`: DuckDB's replacement scans read a table name that is a path),
 * anywhere in it. The only tables there are are `events` and DuckDB's catalog views, and no
 * identifier of theirs holds a path character.
 */
function checkTree(tree: unknown): void {
  const pending: unknown[] = [tree]
  while (pending.length > 0) {
    const node = pending.pop()
    if (Array.isArray(node)) pending.push(...(node as unknown[]))
    else if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>
      if (o['type'] === 'TABLE_FUNCTION') {
        const fn = (o['function'] as { function_name?: unknown } | undefined)?.function_name
        if (typeof fn !== 'string' || !PURE_TABLE_FUNCTIONS.has(fn.toLowerCase()))
          throw new SqlNotReadOnlyError(`the table function ${String(fn)}() is not allowed (it reads files or changes the session); query the \`events\` view`)
      }
      if (o['type'] === 'BASE_TABLE' && typeof o['table_name'] === 'string' && PATH_CHARACTERS.some((ch) => (o['table_name'] as string).includes(ch)))
        throw new SqlNotReadOnlyError(`"${o['table_name']}" is read as a file, and only the \`events\` view may be read`)
      pending.push(...Object.values(o))
    }
  }
}

/** Runs a DuckDB call, turning its refusal to touch a file into KT_SQL_NOT_READ_ONLY and any other failure into KT_SQL_ERROR. */
async function run<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (error) {
    throw sqlError(error)
  }
}

function sqlError(error: unknown): KubetrailError {
  if (error instanceof KubetrailError) return error
  const message = (error as Error).message
  if (message.startsWith('Permission Error')) return new SqlNotReadOnlyError(`it reaches outside the stored events (${message.split('\n')[0]})`)
  // DuckDB's parser's own refusals of writes hidden in a query
  for (const write of ['A CTE needs a SELECT', 'SELECT INTO not supported'])
    if (message.includes(write)) return new SqlNotReadOnlyError(`only a query is run (DuckDB: ${write})`)
  return new KubetrailError('KT_SQL_ERROR', message, { hint: 'The table is `events`; `kubetrail sql --columns` lists its columns. Only reading is allowed.' })
}
