/**
 * @module Audit logs queried where they lie, without importing them: a read-only `AuditStore`
 * over log files, answering as the store would (the store suite runs over it). NDJSON files,
 * plain or gzip, are scanned by DuckDB itself (`log-scan.ts`): in parallel, only the lines that
 * can hold an answer parsed, each once. Files in other formats (webhook EventList bodies, the
 * legacy text format, a pretty-printed document, stdin) are read by the JavaScript reader first.
 *
 * As in the store, an event is identified by (auditID, stage, request time): rotated files that
 * overlap give each event once (the copy of the earliest file). Malformed lines are reported as
 * `import` reports them (`file:line: reason`) among the lines a question reads: every line that
 * is not a JSON object, and every object line that could hold an answer (a line that holds none
 * of the values asked for is not parsed, so its syntax is not checked). Secret values are
 * replaced in what is shown as `import` replaces them (unless the caller passes no redactor).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { KubetrailError } from '../../core/errors.js'
import type { AuditEvent } from '../../model/index.js'
import type { MalformedLine, Redactor } from '../../ingest/index.js'
import type { AppendResult, AuditStore, ChainHead, ClusterResults, EventQuery, PruneReport, StoredEvent, StoreStats, StoreStatus, TopField, VerifyReport } from '../types.js'
import { duckdb, type DuckDBConnection, type DuckDBInstance } from './engine.js'
import { COLUMNS, ISO_TIME, sqlString } from './columns.js'
import { buildCondition, perRequestClause, TOP_EXPR, type SqlParam } from './query-sql.js'
import { runReadOnlySql, type SqlResult } from './sql-sandbox.js'
import { eventRowsSql, lineFilter, MAY_HOLD_SECRETS_SQL, preciseReason, readLinesSql } from './log-scan.js'

/** `kt_redact(text)`: the text with Secret values replaced, as import stores them. */
function redactFunction(redactor: Redactor) {
  const { DuckDBScalarFunction, VARCHAR } = duckdb()
  return DuckDBScalarFunction.create({
    name: 'kt_redact',
    returnType: VARCHAR,
    parameterTypes: [VARCHAR],
    mainFunction: (_info, input, output) => {
      const v = input.getColumnVector(0)
      for (let i = 0; i < input.rowCount; i++) output.setItem(i, redactor.redactText(String(v.getItem(i))).text)
      output.flush()
    },
  })
}

export interface LogFilesOptions {
  /** The cluster these logs come from (default `default`), as `import --cluster`. */
  cluster?: string
  /** Replaces Secret values in the events shown; undefined shows them as they are in the files. */
  redactor?: Redactor
  stdin?: Readable
  /** Called for each malformed line a question read (the first time it is read). */
  onMalformed?: (m: MalformedLine) => void
  threads?: number
  memoryLimit?: string
}

interface LogFile {
  path: string
  gzip: boolean
  /** Read by DuckDB; false: read by the JavaScript reader into the `extra` table. */
  native: boolean
  /** A plain file whose last line has no newline. */
  unterminated: boolean
}

interface Problem {
  fileIndex: number
  line: string
  problem: string
}

const READ_ONLY_HINT = 'Log files are read where they lie; import them (`kubetrail import FILE...`) to store, verify or prune events.'

export class LogFileStore implements AuditStore {
  private problems: Problem[] = []
  /** Problems already reported (a question that reads a line twice reports it once). */
  private readonly reported = new Set<string>()
  private extraLoaded = false

  private constructor(
    private readonly files: LogFile[],
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly spillDir: string,
    private readonly options: LogFilesOptions,
  ) {}

  static async open(paths: readonly string[], options: LogFilesOptions = {}): Promise<LogFileStore> {
    const { sniffLogFile } = await import('../../ingest/index.js')
    const files: LogFile[] = []
    for (const path of paths) {
      const shape = await sniffLogFile(path)
      files.push({ path, gzip: shape.gzip, native: shape.eventLines, unterminated: shape.unterminated })
    }
    const spill = mkdtempSync(join(tmpdir(), 'kubetrail-spill-'))
    const { DuckDBInstance, DuckDBScalarFunction, VARCHAR, BOOLEAN, INTEGER } = duckdb()
    const instance = await DuckDBInstance.create(':memory:', { threads: String(options.threads ?? 2), memory_limit: options.memoryLimit ?? '1GB', temp_directory: spill })
    const conn = await instance.connect()
    const store = new LogFileStore(files, instance, conn, spill, options)
    // Lines that are not events are handed to JavaScript during the scan, so a question takes
    // one pass over the files; there are few, and usually none.
    conn.registerScalarFunction(
      DuckDBScalarFunction.create({
        name: 'kt_problem',
        returnType: BOOLEAN,
        parameterTypes: [INTEGER, VARCHAR, VARCHAR],
        volatile: true,
        mainFunction: (_info, input, output) => {
          const [fileIndex, line, problem] = [0, 1, 2].map((i) => input.getColumnVector(i))
          for (let i = 0; i < input.rowCount; i++) {
            store.problems.push({ fileIndex: Number(fileIndex!.getItem(i)), line: String(line!.getItem(i)), problem: String(problem!.getItem(i)) })
            output.setItem(i, false)
          }
          output.flush()
        },
      }),
    )
    return store
  }

  private get cluster(): string {
    return this.options.cluster ?? 'default'
  }

  /** Every line of the files: `file_index`, `line`, and `event_text` (the line itself). */
  private linesSql(): string {
    const parts: string[] = []
    for (const gzip of [false, true]) {
      const group = this.files.map((f, i) => ({ f, i })).filter(({ f }) => f.native && f.gzip === gzip)
      if (group.length === 0) continue
      const index = `list_position([${group.map(({ f }) => sqlString(f.path)).join(', ')}], filename) - 1`
      const positions = `[${group.map(({ i }) => i).join(', ')}]`
      parts.push(`SELECT CAST(${positions}[${index} + 1] AS INTEGER) AS file_index, line, line AS event_text FROM ${readLinesSql(group.map(({ f }) => f.path), gzip ? 'gzip' : 'none')}`)
    }
    if (this.files.some((f) => !f.native)) parts.push('SELECT file_index, line, line AS event_text FROM extra')
    return parts.length === 0 ? '(SELECT NULL::INTEGER AS file_index, NULL::VARCHAR AS line, NULL::VARCHAR AS event_text WHERE false)' : `(${parts.join(' UNION ALL ')})`
  }

  /** Reads the files DuckDB cannot (or must not) read natively into `extra`, with the JavaScript reader. */
  private async loadExtra(): Promise<void> {
    if (this.extraLoaded || this.files.every((f) => f.native)) return
    const { readRawEvents } = await import('../../ingest/index.js')
    await this.conn.run('CREATE OR REPLACE TEMP TABLE extra(file_index INTEGER, line_no BIGINT, line VARCHAR)')
    const appender = await this.conn.createAppender('extra')
    for (const [i, f] of this.files.entries()) {
      if (f.native) continue
      const onMalformed = (m: MalformedLine) => this.report(m)
      for await (const batch of readRawEvents(f.path, { stdin: this.options.stdin, onMalformed }))
        for (const e of batch) {
          appender.appendInteger(i)
          appender.appendBigInt(BigInt(e.line))
          appender.appendVarchar(e.json)
          appender.endRow()
        }
    }
    appender.flushSync()
    appender.closeSync()
    this.extraLoaded = true
  }

  private report(m: MalformedLine): void {
    const key = `${m.file}\u0000${m.line}`
    if (this.reported.has(key)) return
    this.reported.add(key)
    this.options.onMalformed?.(m)
  }

  /**
   * Runs `build(rows)` over the events of the files (`rows`: every stored column, `file_index`,
   * `line`), only the lines `q` could match parsed, and malformed lines reported. A file found to
   * hold lines DuckDB cannot read as events is moved to the JavaScript reader, and the question
   * asked again.
   */
  private async run<T>(q: EventQuery, build: (rows: string, where: string) => string): Promise<T[]> {
    for (;;) {
      await this.loadExtra()
      this.problems = []
      const { condition, params: condParams } = buildCondition(q)
      const rows = eventRowsSql(this.linesSql(), this.cluster, lineFilter(q))
      const where = `CASE WHEN problem IS NULL THEN ${condition} ELSE kt_problem(file_index, line, problem) END`
      let result: T[]
      try {
        result = await this.all<T>(build(rows, where), condParams)
      } catch (error) {
        if (this.moveUnreadableFile(error)) continue
        throw error
      }
      if (await this.settleProblems()) continue
      return result
    }
  }

  /** A line too long for DuckDB's line reader: its file goes to the JavaScript reader. */
  private moveUnreadableFile(error: unknown): boolean {
    const message = (error as Error).message ?? ''
    if (!/maximum line size|line size/i.test(message)) return false
    const file = this.files.find((f) => f.native && message.includes(f.path))
    if (!file) return false
    file.native = false
    this.extraLoaded = false
    return true
  }

  /**
   * Reports the problem lines of the last scan with their line numbers. A line that another
   * format could read (an EventList body, a legacy line) moves its file to the JavaScript reader:
   * returns true when the question must be asked again.
   */
  private async settleProblems(): Promise<boolean> {
    const { EVENT_LIST_PREFIX } = await import('../../ingest/index.js')
    const byFile = new Map<number, Problem[]>()
    for (const p of this.problems) byFile.set(p.fileIndex, [...(byFile.get(p.fileIndex) ?? []), p])
    let moved = false
    for (const [fileIndex, problems] of byFile) {
      const file = this.files[fileIndex]!
      if (!file.native) continue
      if (problems.some((p) => EVENT_LIST_PREFIX.test(p.line) || !p.line.trimStart().startsWith('{'))) {
        file.native = false
        this.extraLoaded = false
        moved = true
      }
    }
    if (moved) return true
    for (const [fileIndex, problems] of byFile) {
      const file = this.files[fileIndex]!
      const numbers = await this.lineNumbers(file, fileIndex, problems.map((p) => p.line))
      for (const p of problems) {
        for (const { n, last } of numbers.get(p.line) ?? []) {
          const reason = last && file.unterminated ? 'truncated line (no newline at end of file)' : await preciseReason(p.line, p.problem)
          this.report({ file: file.path, line: n, reason })
        }
      }
    }
    return false
  }

  /** Where each of `lines` is in `file` (one pass in file order: rare, only for malformed lines). */
  private async lineNumbers(file: LogFile, fileIndex: number, lines: string[]): Promise<Map<string, Array<{ n: number; last: boolean }>>> {
    await this.conn.run('CREATE OR REPLACE TEMP TABLE wanted(line VARCHAR)')
    const appender = await this.conn.createAppender('wanted')
    for (const l of new Set(lines)) {
      appender.appendVarchar(l)
      appender.endRow()
    }
    appender.flushSync()
    appender.closeSync()
    // the JavaScript reader kept the line numbers of what it read
    const numbered = file.native
      ? `(SELECT row_number() OVER () AS n, count(*) OVER () AS total, line FROM ${readLinesSql([file.path], file.gzip ? 'gzip' : 'none')})`
      : `(SELECT line_no AS n, NULL AS total, line FROM extra WHERE file_index = ${fileIndex})`
    const found = await this.all<{ n: string; line: string; total: string | null }>(`SELECT n, line, total FROM ${numbered} SEMI JOIN wanted USING (line) ORDER BY n`)
    await this.conn.run('DROP TABLE wanted')
    const out = new Map<string, Array<{ n: number; last: boolean }>>()
    for (const r of found) out.set(r.line, [...(out.get(r.line) ?? []), { n: Number(r.n), last: r.n === r.total }])
    return out
  }

  private async all<T>(sql: string, params: SqlParam[] = []): Promise<T[]> {
    if (params.length === 0) return (await this.conn.runAndReadAll(sql)).getRowObjectsJson() as T[]
    const prepared = await this.conn.prepare(sql)
    params.forEach((p, i) => {
      if (typeof p === 'number') prepared.bindDouble(i + 1, p)
      else prepared.bindVarchar(i + 1, p)
    })
    return (await prepared.runAndReadAll()).getRowObjectsJson() as T[]
  }

  private shown(cluster: string, raw: string): StoredEvent {
    const text = this.options.redactor ? this.options.redactor.redactText(raw).text : raw
    return { cluster, raw: text, event: JSON.parse(text) as AuditEvent }
  }

  async *query(q: EventQuery): AsyncIterable<StoredEvent> {
    const order = q.order === 'oldest' ? 'ASC' : 'DESC'
    const offset = Math.max(0, Math.floor(q.offset ?? 0))
    const wanted = q.limit === undefined ? undefined : Math.max(0, Math.floor(q.limit))
    // Copies of one event (overlapping rotated files) sort side by side: read a few more than
    // asked, drop the copies, and read more when copies took the place of events.
    for (let spare = 16; ; spare *= 4) {
      const limit = wanted === undefined ? '' : `LIMIT ${offset + wanted + spare}`
      const rows = await this.run<{ cluster: string; event: string; audit_id: string; stage: string; at: string }>(
        q,
        (rows, where) => `SELECT "cluster", event, audit_id, stage, CAST(request_received_at AS VARCHAR) AS at FROM ${rows} WHERE ${where}${perRequestClause(q)}
          ORDER BY request_received_at ${order}, stage_at ${order}, file_index, line ${limit}`,
      )
      const seen = new Set<string>()
      const unique = rows.filter((r) => {
        const key = `${r.audit_id}\u0000${r.stage}\u0000${r.at}`
        if (seen.has(key)) return false
        seen.add(key)
        return true
      })
      const complete = wanted === undefined || rows.length < offset + wanted + spare || unique.length >= offset + wanted
      if (!complete) continue
      const page = wanted === undefined ? unique.slice(offset) : unique.slice(offset, offset + wanted)
      for (const r of page) yield this.shown(r.cluster, r.event)
      return
    }
  }

  async count(q: EventQuery): Promise<number> {
    const [row] = await this.run<{ n: string }>(q, (rows, where) =>
      // one request is one row after perRequest's choice, whichever files hold its copies
      q.perRequest
        ? `SELECT count(*) AS n FROM (SELECT 1 FROM ${rows} WHERE ${where}${perRequestClause(q)})`
        : `SELECT count(DISTINCT (audit_id, stage, request_received_at)) AS n FROM ${rows} WHERE ${where}`,
    )
    return Number(row?.n ?? 0)
  }

  async top(field: TopField, q: EventQuery, limit: number): Promise<Array<{ value: string; count: number }>> {
    const expr = TOP_EXPR[field]
    const rows = await this.run<{ value: string | null; n: string }>(
      q,
      (rows, where) => `SELECT value, count(*) n FROM (SELECT ${expr} AS value FROM (SELECT DISTINCT ON (audit_id, stage, request_received_at) * EXCLUDE (event, line) FROM ${rows} WHERE ${where}))
        GROUP BY ALL ORDER BY n DESC, value LIMIT ${Math.max(1, Math.floor(limit))}`,
    )
    return rows.map((r) => ({ value: r.value ?? '', count: Number(r.n) }))
  }

  async sql(statement: string): Promise<SqlResult> {
    await this.loadExtra()
    // the store's sandbox (sql-sandbox.ts), its view over the files; Secret values redacted in
    // `event` as the store holds them
    const extra = this.files.some((f) => !f.native) ? await this.all<{ file_index: number; line_no: string; line: string }>('SELECT file_index, line_no, line FROM extra') : []
    const redactor = this.options.redactor
    const lines = this.linesSql()
    const text = redactor ? `CASE WHEN ${MAY_HOLD_SECRETS_SQL} THEN kt_redact(line) ELSE line END` : 'line'
    const withText = `(SELECT file_index, line, ${text} AS event_text FROM (SELECT file_index, line FROM ${lines}))`
    const cols = COLUMNS.map(([n]) => `"${n}"`).join(', ')
    return runReadOnlySql(
      {
        files: this.files.filter((f) => f.native).map((f) => f.path),
        view: `SELECT ${cols} FROM ${eventRowsSql(withText, this.cluster)} WHERE problem IS NULL QUALIFY row_number() OVER (PARTITION BY audit_id, stage, request_received_at ORDER BY file_index, line) = 1`,
        prepare: async (c) => {
          if (redactor) c.registerScalarFunction(redactFunction(redactor))
          // the JavaScript-read files are copied in: the sandbox has no access to this connection
          if (this.files.some((f) => !f.native)) {
            await c.run('CREATE TEMP TABLE extra(file_index INTEGER, line_no BIGINT, line VARCHAR)')
            const appender = await c.createAppender('extra')
            for (const r of extra) {
              appender.appendInteger(Number(r.file_index))
              appender.appendBigInt(BigInt(r.line_no))
              appender.appendVarchar(r.line)
              appender.endRow()
            }
            appender.flushSync()
            appender.closeSync()
          }
        },
      },
      statement,
      { threads: this.options.threads ?? 2, memoryLimit: this.options.memoryLimit ?? '1GB' },
    )
  }

  async stats(): Promise<StoreStats> {
    const [row] = await this.run<{ n: string; lo: string | null; hi: string | null }>(
      {},
      (rows, where) => `SELECT count(DISTINCT (audit_id, stage, request_received_at)) AS n, ${ISO_TIME('min(request_received_at)')} lo, ${ISO_TIME('max(stage_at)')} hi FROM ${rows} WHERE ${where}`,
    )
    const events = Number(row?.n ?? 0)
    const bytes = this.files.reduce((n, f) => n + (f.path === '-' ? 0 : statSync(f.path).size), 0)
    const range = row?.lo && row.hi ? { firstAt: row.lo, lastAt: row.hi } : {}
    return { events, ...range, batches: this.files.length, bytes, clusters: events > 0 ? [this.cluster] : [] }
  }

  /** Every event once (`store copy` from log files), in the order `query` gives them. */
  async *scan(): AsyncIterable<StoredEvent[]> {
    let batch: StoredEvent[] = []
    for await (const e of this.query({ order: 'oldest' })) {
      batch.push(e)
      if (batch.length >= 5000) {
        yield batch
        batch = []
      }
    }
    if (batch.length > 0) yield batch
  }

  status(): Promise<StoreStatus> {
    return Promise.reject(new KubetrailError('KT_READ_ONLY', 'log files are not a store', { hint: READ_ONLY_HINT }))
  }

  append(): Promise<AppendResult> {
    return Promise.reject(new KubetrailError('KT_READ_ONLY', 'cannot append to log files', { hint: READ_ONLY_HINT }))
  }

  appendClusterLines(): Promise<ClusterResults> {
    return Promise.reject(new KubetrailError('KT_READ_ONLY', 'cannot append to log files', { hint: READ_ONLY_HINT }))
  }

  compact(): Promise<number> {
    return Promise.reject(new KubetrailError('KT_READ_ONLY', 'log files are not compacted', { hint: READ_ONLY_HINT }))
  }

  verify(): Promise<VerifyReport> {
    return Promise.reject(new KubetrailError('KT_READ_ONLY', 'log files have no chain to verify', { hint: READ_ONLY_HINT }))
  }

  /** Log files have no chain: nothing to record. */
  async head(): Promise<ChainHead | undefined> {
    return undefined
  }

  prune(): Promise<PruneReport> {
    return Promise.reject(new KubetrailError('KT_READ_ONLY', 'log files are not pruned', { hint: READ_ONLY_HINT }))
  }

  async close(): Promise<void> {
    this.conn.closeSync()
    this.instance.closeSync()
    rmSync(this.spillDir, { recursive: true, force: true })
  }
}

