#!/usr/bin/env node
/**
 * An attacker who knows the embedded store's format (docs/store.md, docs/integrity.md) and can
 * write the data directory: rewrites one event of batch SEQ (its user name, in the column and in
 * the event's JSON), then recomputes every hash the store keeps: the segment's content hash, the
 * batch's Merkle leaves file and its hash, and every chain link from there on. It also removes
 * the store's own checkpoints (it could re-sign them: the key is on the same node). Written from
 * the documented format, sharing no code with kubetrail, in its own process.
 *
 * Usage: node test/support/forge-duckdb-store.mjs DATA_DIR SEQ NEW_USER
 */
import { createHash } from 'node:crypto'
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'

const [dir, seqText, newUser] = process.argv.slice(2)
const seq = Number(seqText)
const sha = (b) => createHash('sha256').update(b).digest()
const chainPath = join(dir, 'chain.jsonl')
const links = readFileSync(chainPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
const link = links.find((l) => l.seq === seq)
const segment = join(dir, 'segments', link.segment)

const db = await DuckDBInstance.create(':memory:')
const c = await db.connect()
const lit = (s) => `'${s.replaceAll("'", "''")}'`
await c.run(`COPY (SELECT * REPLACE (
    CASE WHEN row_in_batch = 1 THEN ${lit(newUser)} ELSE username END AS username,
    CASE WHEN row_in_batch = 1 THEN replace(event, '"username":' || to_json(username), '"username":' || to_json(${lit(newUser)}::VARCHAR)) ELSE event END AS event)
  FROM read_parquet(${lit(segment)}) ORDER BY row_in_batch) TO ${lit(segment + '.evil')} (FORMAT parquet, COMPRESSION zstd)`)
const reader = await c.runAndReadAll(`SELECT "cluster", event FROM read_parquet(${lit(segment + '.evil')})`)
const leaves = reader.getRowObjects().map((r) => sha(Buffer.concat([Buffer.from([0]), Buffer.from(`${r.cluster}\n${r.event}`, 'utf8')])))
c.closeSync()
db.closeSync()
renameSync(segment + '.evil', segment)
const leavesFile = join(dir, 'leaves', `${String(seq).padStart(10, '0')}.leaves`)
const leavesBytes = Buffer.concat(leaves.sort(Buffer.compare))
writeFileSync(leavesFile, leavesBytes)

link.contentHash = sha(readFileSync(segment)).toString('hex')
if (link.leavesHash !== undefined) link.leavesHash = sha(leavesBytes).toString('hex')
// link format 2: SHA-256 of a fixed prefix and the JSON of every other field, sorted by name
const linkHash = (l) =>
  sha(Buffer.from(`kubetrail chain link v2\n${JSON.stringify(Object.entries(l).filter(([k, v]) => k !== 'hash' && v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`)).toString('hex')
for (let i = links.indexOf(link); i < links.length; i++) {
  if (i > 0) links[i].prevHash = links[i - 1].hash
  links[i].hash = linkHash(links[i])
}
writeFileSync(chainPath, links.map((l) => JSON.stringify(l) + '\n').join(''))
rmSync(join(dir, 'checkpoints'), { recursive: true, force: true })
