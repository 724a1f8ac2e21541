/**
 * @module Where the events are stored, as the user names it: `--store URL` or `KUBETRAIL_STORE`,
 * `duckdb:DIR` (the embedded store, the default: `duckdb:./kubetrail-data`, or `--data-dir`) or
 * `clickhouse://[user@]host[:port][/database][?cluster=NAME&secure=1]`. The ClickHouse password
 * never travels in the URL (process listings and shell histories show it): it comes from
 * `KUBETRAIL_CLICKHOUSE_PASSWORD` or a file.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { KubetrailError, UsageError } from '../core/errors.js'
import { resolveDataDir } from './data-dir.js'

export interface EmbeddedLocation {
  kind: 'duckdb'
  dir: string
}

export interface ClickHouseLocation {
  kind: 'clickhouse'
  /** The server's HTTP(S) endpoint, e.g. `http://127.0.0.1:8123`. */
  endpoint: string
  username: string
  password: string
  database: string
  /** A cluster of the server's `remote_servers`: tables are created ON CLUSTER, events go through a Distributed table. */
  cluster: string | undefined
  secure: boolean
}

export type StoreLocation = EmbeddedLocation | ClickHouseLocation

/** The location as the user may see it (never the password). */
export function describeLocation(l: StoreLocation): string {
  if (l.kind === 'duckdb') return `duckdb:${l.dir}`
  const u = new URL(l.endpoint)
  return `clickhouse://${l.username}@${u.host}/${l.database}${l.cluster ? `?cluster=${l.cluster}` : ''}${l.secure ? `${l.cluster ? '&' : '?'}secure=1` : ''}`
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

/** Where the password comes from, when a URL names a ClickHouse server. */
export interface PasswordSource {
  /** `--clickhouse-password-file`. */
  file?: string
  env?: NodeJS.ProcessEnv
}

function readPassword(source: PasswordSource, cwd: string): string {
  const env = source.env ?? process.env
  const file = source.file ?? env['KUBETRAIL_CLICKHOUSE_PASSWORD_FILE']
  if (file !== undefined) {
    try {
      // a file written by an editor or `echo` ends with a newline that is not part of the password
      return readFileSync(resolve(cwd, file), 'utf8').replace(/\r?\n$/, '')
    } catch (error) {
      throw new KubetrailError('KT_FILE_UNREADABLE', `cannot read the ClickHouse password file ${file}: ${(error as Error).message}`, { hint: 'Check the path and that you may read it.' })
    }
  }
  return env['KUBETRAIL_CLICKHOUSE_PASSWORD'] ?? ''
}

/** Parses `duckdb:DIR` or `clickhouse://…` (relative directories from `cwd`). */
export function parseStoreUrl(text: string, cwd: string, password: PasswordSource = {}): StoreLocation {
  if (text.startsWith('duckdb:')) {
    const dir = text.slice('duckdb:'.length).replace(/^\/\/(?=\/)/, '')
    if (dir === '') throw new UsageError(`--store "${text}": name the directory, e.g. duckdb:./kubetrail-data`)
    return { kind: 'duckdb', dir: resolve(cwd, dir) }
  }
  if (!text.startsWith('clickhouse://')) throw new UsageError(`--store "${text}": use duckdb:DIR or clickhouse://[user@]host[:port][/database][?cluster=NAME&secure=1]`)
  let url: URL
  try {
    // URL parses a special scheme's authority only for http(s): read it as one
    url = new URL(`http://${text.slice('clickhouse://'.length)}`)
  } catch {
    throw new UsageError(`--store "${text}" is not a URL`, 'Use clickhouse://[user@]host[:port][/database][?cluster=NAME&secure=1].')
  }
  if (url.password !== '')
    throw new UsageError('--store: the ClickHouse URL holds a password, which process listings and shell histories would show', 'Put it in KUBETRAIL_CLICKHOUSE_PASSWORD or a file named by --clickhouse-password-file, and leave it out of the URL.')
  if (url.hostname === '') throw new UsageError(`--store "${text}": name the server, e.g. clickhouse://kubetrail@clickhouse:8123/kubetrail`)
  const params = url.searchParams
  for (const key of params.keys()) if (key !== 'cluster' && key !== 'secure') throw new UsageError(`--store: unknown parameter "${key}" (known: cluster, secure)`)
  const secureText = params.get('secure') ?? '0'
  if (secureText !== '0' && secureText !== '1') throw new UsageError(`--store: secure must be 0 or 1, not "${secureText}"`)
  const secure = secureText === '1'
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'kubetrail'
  const cluster = params.get('cluster') ?? undefined
  // both end up in DDL as identifiers: no quoting games
  if (!NAME.test(database)) throw new UsageError(`--store: database "${database}" must be letters, digits and _`)
  if (cluster !== undefined && !NAME.test(cluster)) throw new UsageError(`--store: cluster "${cluster}" must be letters, digits and _`)
  const port = url.port || (secure ? '8443' : '8123')
  return {
    kind: 'clickhouse',
    endpoint: `${secure ? 'https' : 'http'}://${url.hostname}:${port}`,
    username: decodeURIComponent(url.username) || 'default',
    password: readPassword(password, cwd),
    database,
    cluster,
    secure,
  }
}

/** The store options every command that opens a store takes. */
export interface StoreFlags {
  store?: string
  dataDir?: string
  clickhousePasswordFile?: string
}

/**
 * The store a command uses: `--store`, else `KUBETRAIL_STORE`, else the embedded store in the
 * data directory (`--data-dir`, `KUBETRAIL_DATA_DIR`, `./kubetrail-data`). A `--data-dir` given
 * on the command line beats an embedded store named in the environment.
 */
export function resolveStore(flags: StoreFlags, cwd: string, env: NodeJS.ProcessEnv = process.env): StoreLocation {
  const password = { file: flags.clickhousePasswordFile, env }
  if (flags.store !== undefined) {
    const l = parseStoreUrl(flags.store, cwd, password)
    if (l.kind === 'duckdb' && flags.dataDir !== undefined && resolve(cwd, flags.dataDir) !== l.dir)
      throw new UsageError(`--store ${flags.store} and --data-dir ${flags.dataDir} name two different directories`, 'Give one of them.')
    return l
  }
  const fromEnv = env['KUBETRAIL_STORE']
  if (fromEnv !== undefined && fromEnv !== '') {
    const l = parseStoreUrl(fromEnv, cwd, password)
    if (l.kind === 'clickhouse' || flags.dataDir === undefined) return l
  }
  return { kind: 'duckdb', dir: resolveDataDir(flags.dataDir, cwd) }
}

/**
 * The local directory of a command that keeps files of its own besides the events (the
 * collector's write-ahead log and certificates, the redaction key): the embedded store's
 * directory, or `--data-dir` when the events go to a server.
 */
export function localDir(location: StoreLocation, flags: StoreFlags, cwd: string): string {
  return location.kind === 'duckdb' ? location.dir : resolveDataDir(flags.dataDir, cwd)
}
