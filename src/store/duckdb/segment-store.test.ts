import { readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { runStoreSuite } from '../store.suite.js'
import { DuckDbSegmentStore } from './segment-store.js'
import type { ChainLink } from '../types.js'

/** Rewrites one segment with DuckDB, as an attacker with file access could. */
async function rewriteSegment(dir: string, seq: number, sqlOverSegment: (src: string) => string): Promise<void> {
  const link = readFileSync(join(dir, 'chain.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ChainLink).find((l) => l.seq === seq)!
  const path = join(dir, 'segments', link.segment!)
  const tmp = `${path}.evil`
  const db = await DuckDBInstance.create(':memory:')
  const c = await db.connect()
  await c.run(`COPY (${sqlOverSegment(`read_parquet('${path}')`)}) TO '${tmp}' (FORMAT parquet)`)
  c.closeSync()
  db.closeSync()
  rmSync(path)
  const { renameSync } = await import('node:fs')
  renameSync(tmp, path)
}

runStoreSuite('duckdb segments', {
  open: (dir, write) => DuckDbSegmentStore.open(dir, { write }),
  async tamper(dir, seq, how) {
    switch (how) {
      case 'alter':
        return rewriteSegment(dir, seq, (s) => `SELECT * REPLACE (CASE WHEN row_in_batch = 5 THEN 'mallory' ELSE username END AS username) FROM ${s} ORDER BY row_in_batch`)
      case 'delete-event':
        return rewriteSegment(dir, seq, (s) => `SELECT * FROM ${s} WHERE row_in_batch <> 7 ORDER BY row_in_batch`)
      case 'reorder':
        return rewriteSegment(dir, seq, (s) => `SELECT * REPLACE (CASE row_in_batch WHEN 1 THEN 2 WHEN 2 THEN 1 ELSE row_in_batch END AS row_in_batch) FROM ${s}`)
      case 'insert':
        return rewriteSegment(dir, seq, (s) => `SELECT * FROM ${s} UNION ALL (SELECT * REPLACE (row_in_batch + 1000 AS row_in_batch) FROM ${s} LIMIT 1)`)
      case 'remove-batch': {
        const files = readdirSync(join(dir, 'segments')).sort()
        rmSync(join(dir, 'segments', files[seq - 1]!))
      }
    }
  },
})
