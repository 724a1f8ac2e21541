/**
 * @module Storing audit events: the store interface, its embedded DuckDB implementation, and
 * the data directory.
 */
import { DuckDbSegmentStore, type OpenOptions } from './duckdb/segment-store.js'
export { EVENT_COLUMNS } from './duckdb/segment-store.js'
import type { AuditStore } from './types.js'

export type * from './types.js'
export { TOP_FIELDS } from './types.js'
export { DEFAULT_DATA_DIR, resolveDataDir, StoreBusyError } from './data-dir.js'

/** Opens the store in `dir`: for reading (any number of processes) or writing (one at a time). */
export function openStore(dir: string, options: OpenOptions = {}): Promise<AuditStore> {
  return DuckDbSegmentStore.open(dir, options)
}
