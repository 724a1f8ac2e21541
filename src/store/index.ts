/**
 * @module Storing audit events: the store interface, where a store is (`--store`), its
 * implementations (the embedded DuckDB store in `duckdb/`), and the data directory.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { KubetrailError } from '../core/errors.js'
import { describeLocation, type StoreLocation } from './location.js'
import type { AuditStore, OpenOptions } from './types.js'
import type { LogFilesOptions } from './duckdb/file-store.js'

export type * from './types.js'
export type { LogFilesOptions } from './duckdb/file-store.js'
export { hasMerkleTree, TOP_FIELDS } from './types.js'
export { DEFAULT_DATA_DIR, resolveDataDir, StoreBusyError } from './data-dir.js'
export { describeLocation, localDir, parseStoreUrl, resolveStore, type ClickHouseLocation, type StoreFlags, type StoreLocation } from './location.js'
export { jsonOfStoreLine, storeLine } from './duckdb/store-line.js'
export { formatHead, leafLayout, liveLinks, originBatches, parseHeadRecord } from './chain.js'
export { EMPTY_ROOT, eventLeafHash, HASH_BYTES, MerkleFrontier, MerkleTree, verifyConsistency, verifyInclusion, type LeafGroup } from './merkle.js'
export { SqlNotReadOnlyError, StoreTamperedError } from './errors.js'

// The DuckDB native library is loaded only by commands that open a store: the policy commands
// (and --help) start without it.
async function implementation() {
  return import('./duckdb/segment-store.js')
}

/** Readers kept open by `keepReaderOpen`, by resolved directory: each opens on first use. */
const keptReaders = new Map<string, () => Promise<AuditStore>>()

function locationOf(where: StoreLocation | string): StoreLocation {
  return typeof where === 'string' ? { kind: 'duckdb', dir: resolve(where) } : where
}

/**
 * Opens a store (a directory names the embedded store): for reading (any number of processes)
 * or writing (the embedded store: one process at a time).
 */
export async function openStore(where: StoreLocation | string, options: OpenOptions = {}): Promise<AuditStore> {
  const location = locationOf(where)
  if (location.kind !== 'duckdb') throw notAvailable(location)
  const kept = options.write ? undefined : keptReaders.get(location.dir)
  if (kept) return borrowed(await kept())
  return (await implementation()).DuckDbSegmentStore.open(location.dir, options)
}

function notAvailable(location: StoreLocation): Error {
  return new KubetrailError('KT_STORE_UNSUPPORTED', `this kubetrail cannot open ${location.kind} stores`, { hint: 'Use the embedded store (duckdb:DIR).' })
}

/** What `kubetrail store init` did. */
export interface InitReport {
  location: string
  /** The schema version before and after (the embedded store has no versions: 0 and 0). */
  from: number
  to: number
  created: boolean
}

/** Creates the store, or brings its schema to this version (idempotent). */
export async function initStore(where: StoreLocation | string): Promise<InitReport> {
  const location = locationOf(where)
  if (location.kind !== 'duckdb') throw notAvailable(location)
  const created = !existsSync(join(location.dir, 'chain.jsonl')) && !existsSync(join(location.dir, 'segments'))
  const store = await openStore(location, { write: true })
  await store.close()
  return { location: describeLocation(location), from: 0, to: 0, created }
}

/**
 * Keeps one reader of `dir` open for this process: later `openStore(dir)` calls for reading
 * borrow it instead of starting DuckDB and reading every segment's footer again (how `kubetrail
 * serve` answers queries: ~50 ms less per query on 1M events, measured). Opened on first use;
 * the returned function closes it. Borrowers must not use it concurrently (one connection).
 */
export function keepReaderOpen(dir: string, options: Omit<OpenOptions, 'write' | 'writerId'> = {}): () => Promise<void> {
  const key = resolve(dir)
  let opened: Promise<AuditStore> | undefined
  keptReaders.set(key, () => {
    if (!opened) {
      opened = implementation().then((m) => m.DuckDbSegmentStore.open(key, options))
      // a failed open (no store yet) is tried again by the next borrower
      opened.catch(() => (opened = undefined))
    }
    return opened
  })
  return async () => {
    keptReaders.delete(key)
    const store = await opened?.catch(() => undefined)
    await store?.close()
  }
}

/** The kept reader, with close() left to its owner. */
function borrowed(store: AuditStore): AuditStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'close') return async () => {}
      const value = Reflect.get(target, prop, receiver) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}

/**
 * Log files queried where they lie (NDJSON plain or gzip natively, other formats through the log
 * reader): a read-only store over them. Paths are files (directories and globs are the caller's
 * to expand), or `-` for standard input.
 */
export async function openLogFiles(paths: readonly string[], options: LogFilesOptions = {}): Promise<AuditStore> {
  const { LogFileStore } = await import('./duckdb/file-store.js')
  return LogFileStore.open(paths, options)
}

/** The columns of the `events` view that `kubetrail sql` queries. */
export async function eventColumns(): Promise<ReadonlyArray<{ name: string; type: string }>> {
  return (await implementation()).EVENT_COLUMNS
}
