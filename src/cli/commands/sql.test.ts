/**
 * `kubetrail sql` as an attacker would use it: every way found to write, attach, load, configure
 * or read outside the stored events is refused with KT_SQL_NOT_READ_ONLY, run as a command and
 * through a running serve's query socket (inside the collector), and the data directory is
 * byte for byte what it was.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../../test/support/fixtures.js'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { QUERY_SOCKET, runInServer, serveQueries } from '../query-socket.js'
import { renderError } from '../render-error.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }

async function local(args: string[]) {
  const r = await invoke(args, ctx)
  return { out: r.result ? await collectOutput(r.result) : '', code: r.result?.exitCode ?? r.exitCode, err: r.error ? renderError(r.error, false) : '' }
}

async function served(args: string[]) {
  let out = ''
  let err = ''
  const code = await runInServer(args, process.cwd(), { out: async (c) => void (out += c), err: (t) => void (err += t) })
  return { out, err, code }
}

/** Every file under `dir` (but the socket) with its mode and SHA-256. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else if (name !== QUERY_SOCKET) out[p] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`
    }
  }
  walk(dir)
  return out
}

const root = mkdtempSync(join(tmpdir(), 'kubetrail-sqlesc-'))
const dir = join(root, 'data')
const outside = join(root, 'outside')
/** A log read where it lies (`kubetrail sql STATEMENT FILE`): the same sandbox, its view over the file. */
const logs = join(root, 'logs')
const logFile = join(logs, 'audit.log.gz')
let stopServe: (() => Promise<void>) | undefined
let before: Record<string, string>

/** Statements that must be refused as not read-only; `D` is the data directory, `S` a committed segment, `O` a directory outside it. */
const ESCAPES: string[] = [
  // writes over committed evidence and new files
  "COPY (SELECT * FROM events WHERE verb <> 'delete') TO 'S' (FORMAT parquet)",
  "COPY events TO 'D/segments/evil.parquet' (FORMAT parquet)",
  "COPY (SELECT 1) TO 'O/copy.csv'",
  "EXPORT DATABASE 'O/export'",
  "EXPORT DATABASE 'D/segments'",
  // other databases
  "ATTACH 'D/segments/x.db'",
  "ATTACH 'O/x.db' AS evil",
  "ATTACH ':memory:' AS m",
  'DETACH memory',
  'USE memory',
  // extensions, settings, checkpoints
  'INSTALL httpfs',
  'LOAD httpfs',
  "LOAD 'O/evil.duckdb_extension'",
  'SET enable_external_access = true',
  "SET allowed_directories = ['/']",
  'RESET allowed_paths',
  'SET VARIABLE x = 1',
  'PRAGMA threads = 1',
  'PRAGMA enable_profiling',
  "PRAGMA table_info('events')",
  'CHECKPOINT',
  'FORCE CHECKPOINT',
  'CALL checkpoint()',
  'SELECT * FROM checkpoint()',
  'SELECT * FROM force_checkpoint()',
  "SELECT * FROM enable_logging(storage = 'file', storage_path = 'D/segments')",
  "CALL enable_logging(storage = 'file', storage_path = 'D/segments')",
  'SELECT * FROM enable_profiling()',
  'VACUUM',
  'BEGIN TRANSACTION',
  'EXPLAIN ANALYZE SELECT 1',
  // the catalog
  'CREATE TABLE t AS SELECT * FROM events',
  'CREATE TEMP TABLE t (a INT)',
  'CREATE VIEW v AS SELECT 1',
  'CREATE OR REPLACE VIEW events AS SELECT 1 AS username',
  'CREATE MACRO m(x) AS x',
  'DROP VIEW events',
  "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
  "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
  "INSERT INTO events SELECT * FROM events LIMIT 1",
  'DELETE FROM events',
  "UPDATE events SET username = 'mallory'",
  'PIVOT events ON verb USING count(*)',
  // more than one statement, and statements hidden by comments
  'DROP VIEW events; SELECT 1',
  'SELECT 1; DROP VIEW events',
  'SELECT 1; -- a comment\nDROP VIEW events',
  '/* SELECT 1; */ DROP VIEW events',
  "SELECT 1 /* ; */ ; COPY events TO 'O/c.csv'",
  // CTEs with side effects
  'WITH d AS (DELETE FROM events RETURNING *) SELECT * FROM d',
  "WITH x AS (SELECT * FROM enable_logging(storage = 'file', storage_path = 'D/segments')) SELECT * FROM x",
  'WITH c AS MATERIALIZED (SELECT * FROM checkpoint()) SELECT * FROM c',
  "SELECT * FROM query('DROP VIEW events')",
  "SELECT * FROM query('SELECT 1')",
  'SELECT 1 AS x INTO y',
  // table functions over paths, replacement scans, traversal, URLs
  "SELECT * FROM read_csv('/etc/passwd')",
  "SELECT * FROM read_text('/proc/self/environ')",
  "SELECT * FROM read_text('D/chain.jsonl')",
  "SELECT * FROM read_blob('D/redaction.key')",
  "SELECT * FROM read_csv('D/wal/0000000001.wal', delim = '\\t')",
  "SELECT * FROM read_json_objects('D/alerts.ndjson')",
  "SELECT * FROM glob('/etc/*')",
  "SELECT * FROM glob('D/**')",
  "SELECT * FROM read_parquet('S')",
  "SELECT * FROM parquet_metadata('S')",
  "SELECT * FROM sniff_csv('/etc/passwd')",
  "SELECT * FROM read_duckdb('S')",
  "SELECT * FROM '/etc/passwd'",
  "SELECT * FROM 'D/chain.jsonl'",
  "SELECT * FROM 'D/segments/../chain.jsonl'",
  "SELECT * FROM 'D/segments/../../../../etc/passwd'",
  "FROM '../../../../../etc/passwd'",
  "SELECT * FROM read_csv('https://example.com/x.csv')",
  "SELECT * FROM 'https://example.com/x.parquet'",
  "SUMMARIZE SELECT * FROM read_text('/etc/passwd')",
  "DESCRIBE SELECT * FROM glob('D/*')",
  "SELECT (SELECT count(*) FROM read_text('/etc/hostname'))",
  // the log file a question reads (`L`), other than through the view
  "SELECT * FROM read_text('L')",
  "SELECT * FROM 'L'",
  "COPY (SELECT 1) TO 'L'",
]

const concrete = (statement: string, segment: string) => statement.replaceAll("'S'", `'${segment}'`).replaceAll("'L'", `'${logFile}'`).replaceAll("'D/", `'${dir}/`).replaceAll("'O/", `'${outside}/`)

beforeAll(async () => {
  const imported = await local(['import', requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), '--data-dir', dir])
  expect(imported.code).toBe(0)
  mkdirSync(outside)
  mkdirSync(logs)
  writeFileSync(logFile, gzipSync(readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')))))
  // a waiting WAL file and recorded alerts: event data outside the segments
  mkdirSync(join(dir, 'wal'), { mode: 0o700 })
  writeFileSync(join(dir, 'wal', '0000000001.wal'), 'default\t{"kind":"Event"}\n', { mode: 0o600 })
  writeFileSync(join(dir, 'alerts.ndjson'), '{"rule":"x"}\n', { mode: 0o600 })
  before = fingerprint(dir)
  stopServe = await serveQueries(dir, () => {})
}, 60_000)

afterAll(async () => {
  await stopServe?.()
})

describe('kubetrail sql refuses everything but one read-only query', () => {
  const segment = () => join(dir, 'segments', readdirSync(join(dir, 'segments')).find((f) => f.endsWith('.parquet'))!)

  it('runs queries: SELECT, WITH, FROM-first, DESCRIBE, SUMMARIZE, SHOW, VALUES, generators; count(*) is named as written', async () => {
    const count = await local(['sql', "SELECT count(*), count(*) AS n FROM events WHERE verb = 'delete'", '--json', '--data-dir', dir])
    expect(JSON.parse(count.out)).toEqual([{ 'count(*)': expect.any(String), n: expect.any(String) }])
    for (const q of ['WITH d AS (SELECT verb FROM events) SELECT count(*) FROM d', 'FROM events LIMIT 1', 'DESCRIBE events', 'SUMMARIZE events', 'SHOW TABLES', 'VALUES (1, 2)', 'SELECT sum(range) FROM range(10)', 'SELECT * FROM unnest([1, 2])']) {
      const r = await local(['sql', q, '--data-dir', dir])
      expect(r.err, q).toBe('')
      expect(r.code, q).toBe(0)
    }
  })

  it('spills into a private directory of its own, removed afterwards (not ./.tmp)', async () => {
    const r = await local(['sql', "SELECT current_setting('temp_directory') AS t", '--json', '--data-dir', dir])
    const temp = (JSON.parse(r.out) as Array<{ t: string }>)[0]!.t
    expect(temp.startsWith(join(tmpdir(), 'kubetrail-sql-'))).toBe(true)
    expect(existsSync(temp)).toBe(false)
  })

  it.each(ESCAPES)('refuses %s, as a command and through serve', async (statement) => {
    const sql = concrete(statement, segment())
    const itself = await local(['sql', sql, '--data-dir', dir])
    expect(itself.err, sql).toMatch(/\[KT_SQL_NOT_READ_ONLY\]/)
    expect(itself.code).toBe(1)
    const viaServe = await served(['sql', sql, '--data-dir', dir])
    expect(viaServe.err, sql).toMatch(/\[KT_SQL_NOT_READ_ONLY\]/)
    expect(viaServe.code).toBe(1)
  })

  it('runs queries over log files read where they lie, with the same answers as the store', async () => {
    const q = "SELECT verb, count(*) AS n FROM events GROUP BY verb ORDER BY verb"
    const stored = await local(['sql', q, '--json', '--data-dir', dir])
    const read = await local(['sql', q, logFile, '--json', '--data-dir', dir])
    expect(read.err).toBe('')
    expect(read.out).toBe(stored.out)
  })

  it.each(ESCAPES)('refuses %s over log files read where they lie', async (statement) => {
    const sql = concrete(statement, segment()).replaceAll("'L'", `'${logFile}'`)
    const r = await local(['sql', sql, logFile, '--data-dir', dir])
    expect(r.err, sql).toMatch(/\[KT_SQL_NOT_READ_ONLY\]/)
    expect(r.code).toBe(1)
  })

  it('left the data directory byte for byte as it was, and wrote nothing outside it', async () => {
    expect(readdirSync(logs)).toEqual(['audit.log.gz'])
    expect(fingerprint(dir)).toEqual(before)
    expect(readdirSync(outside)).toEqual([])
    expect((await local(['verify', '--data-dir', dir])).code).toBe(0)
  })

  it('an empty statement or a syntax error is not a security refusal', async () => {
    expect((await local(['sql', '/* nothing */', '--data-dir', dir])).err).toMatch(/empty \[KT_USAGE\]/)
    expect((await local(['sql', 'SELEC 1', '--data-dir', dir])).err).toMatch(/syntax error[^]*\[KT_SQL_ERROR\]/)
    expect((await local(['sql', 'SELECT nope FROM events', '--data-dir', dir])).err).toMatch(/nope[^]*\[KT_SQL_ERROR\]/)
  })
})
