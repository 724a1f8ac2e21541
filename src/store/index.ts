/**
 * @module Storing audit events: the store interface, its embedded DuckDB implementation, and
 * the data directory.
 */
import type { OpenOptions } from './duckdb/segment-store.js'
import type { AuditStore } from './types.js'

export type * from './types.js'
export { TOP_FIELDS } from './types.js'
export { DEFAULT_DATA_DIR, resolveDataDir, StoreBusyError } from './data-dir.js'

// The DuckDB native library is loaded only by commands that open a store: the policy commands
// (and --help) start without it.
async function implementation() {
  return import('./duckdb/segment-store.js')
}

/** Opens the store in `dir`: for reading (any number of processes) or writing (one at a time). */
export async function openStore(dir: string, options: OpenOptions = {}): Promise<AuditStore> {
  return (await implementation()).DuckDbSegmentStore.open(dir, options)
}

/** The columns of the `events` view that `kubetrail sql` queries. */
export async function eventColumns(): Promise<ReadonlyArray<{ name: string; type: string }>> {
  return (await implementation()).EVENT_COLUMNS
}
