import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { isExternalIP, userKind } from '../../model/index.js'
import { DuckDBInstance } from '@duckdb/node-api'
import { rawEvents, runStoreSuite } from '../store.suite.js'
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

describe('enrichment columns', () => {
  it('user_kind and source_external equal userKind and isExternalIP, on real events and generated addresses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-enrich-'))
    const store = await DuckDbSegmentStore.open(dir, { write: true })
    const real = rawEvents()
    const octet = fc.integer({ min: 0, max: 255 })
    const ips = fc.sample(
      fc.oneof(
        fc.tuple(fc.constantFrom(0, 10, 100, 127, 169, 172, 192, 8, 34), octet, octet, octet).map((o) => o.join('.')),
        fc.ipV4(),
        fc.ipV6(),
        fc.constantFrom('::1', '::', 'fd00::1', 'fe80::1', 'febf::1', 'fec0::1', '2001:db8::1', '::ffff:10.0.0.1', '::ffff:8.8.8.8', 'not-an-ip', '999.1.1.1'),
      ),
      { numRuns: 400, seed: 7 },
    )
    const base = JSON.parse(real[0]!.json) as Record<string, unknown>
    const generated = ips.map((ip, i) => ({ json: JSON.stringify({ ...base, auditID: `gen-${i}`, sourceIPs: [ip] }), file: 'gen', line: i + 1 }))
    await store.append([...real, ...generated], 'default')
    const { rows } = await store.sql('SELECT audit_id, stage, username, user_kind, source_ips, source_external FROM events')
    expect(rows.length).toBe(real.length + generated.length)
    for (const [id, stage, username, kind, sourceIps, external] of rows as Array<[string, string, string | null, string, string[], boolean]>) {
      expect(kind, `${id} ${stage}`).toBe(userKind(username ?? undefined))
      expect(external, `${id} ${sourceIps.join(',')}`).toBe(sourceIps.some(isExternalIP))
    }
    await store.close()
  })
})
