/**
 * @module The DuckDB library, loaded with `require`: it is a CommonJS package of ~60 files, and
 * importing it as ESM makes Node run its CommonJS export scanner over every file (measured: 490
 * against 280 ms of CPU to load it on this machine, loaded with other work; the library itself,
 * 70 MB, is the same either way). Every store command pays this once.
 */
import { createRequire } from 'node:module'

import type * as DuckDbApi from '@duckdb/node-api'

export type * from '@duckdb/node-api'
type DuckDb = typeof DuckDbApi

let loaded: DuckDb | undefined

/** The `@duckdb/node-api` module, loaded on first use. */
export function duckdb(): DuckDb {
  return (loaded ??= createRequire(import.meta.url)('@duckdb/node-api') as DuckDb)
}
