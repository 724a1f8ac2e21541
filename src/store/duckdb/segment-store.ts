/**
 * @module The embedded store: immutable Parquet segments written and read through an in-process
 * DuckDB, indexed by the chain (`chain.jsonl`).
 *
 * Why segments rather than one DuckDB database file: DuckDB allows one process per database
 * file, and the store must answer queries while another process imports or collects. Segments
 * are written to a temporary name, renamed into place, then committed by appending a chain
 * link; a reader lists the committed segments from the chain and opens them read-only with its
 * own in-memory DuckDB, so readers never take a lock. Parquet with zstd also stores the
 * large JSON bodies compressed, which a DuckDB table does not.
 */
import { createHash, hash } from 'node:crypto'
import { chmodSync, closeSync, createReadStream, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { tmpdir } from 'node:os'
import { duckdb, type DuckDBConnection, type DuckDBInstance } from './engine.js'
import type { AuditEvent } from '../../model/index.js'
import { KubetrailError } from '../../core/errors.js'
import { fsyncPath } from '../../core/durable.js'
import type { MalformedLine } from '../../ingest/index.js'
import { appendLink, checkBeforeRewrite, headOf, leafLayout, liveLinks, nextLink, originBatches, readChain, verifyChain, type ContentCheck } from '../chain.js'
import { eventLeafHash, subtreesOf, type LeafGroup } from '../merkle.js'
import { acquireWriterLock, ensureDataDir, requireDataDir } from '../data-dir.js'
import type { AccessOptions, AccessRow, AppendResult, AuditStore, MerkleStore, ChainHead, ChainLink, ClusterResults, CompactOptions, EventLeaf, EventQuery, OpenOptions, PrunedSubtree, PruneReport, RawEvent, StoredEvent, StoreStats, StoreStatus, TopField, VerifyOptions, VerifyReport } from '../types.js'
import { buildWhere, perRequestClause, TOP_EXPR, type SqlParam } from './query-sql.js'
import { COLUMNS, EVENT_STRUCT, ISO_TIME, KEY_STRUCT, PROBLEM_SQL, sqlString, TS, withBodies } from './columns.js'
import { runReadOnlySql, type SandboxOptions, type SqlResult } from './sql-sandbox.js'
import { preciseReason } from './log-scan.js'
import { StoreTamperedError } from '../errors.js'
import { columnsOfStoreLines, fastColumnsOfStoreLines, readStoreLinesSql, STORE_LINE_MARKER, storeLineBatchesSql } from './store-line.js'

const SEGMENT_DIGITS = 10


function fileList(paths: string[]): string {
  return `[${paths.map(sqlString).join(', ')}]`
}

/** The zstd level of every compacted segment and, by default, of every batch: 1/6.4 of the raw log (level 3: 1/6.0). */
const STORE_COMPRESSION_LEVEL = 6

/**
 * DuckDB's allocator keeps freed memory for reuse up to 128 MB by default: a process that appends
 * batch after batch then sits at its peak. Returning it after each statement costs little and
 * took a collector's DuckDB share from ~220 to ~105 MB (5k-event batches, measured). Writers
 * only: a reader that returns its decompression buffers after every statement answers ~1.7x
 * slower (a `who` on 1M events: 120 against 210 ms, measured).
 */
const ALLOCATOR = { allocator_flush_threshold: '2MB', allocator_bulk_deallocation_flush_threshold: '2MB' }

export class DuckDbSegmentStore implements AuditStore, MerkleStore {
  private constructor(
    private readonly dir: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly release: (() => void) | undefined,
    private readonly rowGroupSize: number,
    private readonly spillDir: string,
    /** How many bytes of events one compaction may sort: DuckDB's sort of wide rows does not spill (measured). */
    private readonly compactionBudget: number,
    private readonly batchCompressionLevel: number,
    /** `kubetrail sql` runs in a DuckDB of its own, within the same memory as the store's. */
    private readonly sandbox: SandboxOptions,
  ) {}

  static async open(dir: string, options: OpenOptions = {}): Promise<DuckDbSegmentStore> {
    let release: (() => void) | undefined
    if (options.write) {
      ensureDataDir(dir)
      release = acquireWriterLock(dir)
    } else {
      requireDataDir(dir)
    }
    // Bounded memory whatever the input; beyond it DuckDB spills to files, which hold event data:
    // a private (0700) directory of our own, removed on close.
    const spill = mkdtempSync(join(tmpdir(), 'kubetrail-spill-'))
    // A writer's batches are bounded (--batch-size), so a small limit keeps the import's memory
    // flat; readers may sort or hold large results and get more.
    const memoryLimit = options.memoryLimit ?? (options.write ? '160MB' : '1GB')
    const instance = await duckdb().DuckDBInstance.create(':memory:', { threads: String(options.threads ?? 2), memory_limit: memoryLimit, temp_directory: spill, ...(options.write ? ALLOCATOR : {}) })
    const conn = await instance.connect()
    // segments never change once committed, so their footers can be cached across statements
    await conn.run('SET parquet_metadata_cache = true')
    // DuckDB 1.5 sorts rows with large strings in memory (it fails rather than spill: 60k generated
    // events, ~100 MB, fail under a 160 MB limit): a compaction sorts at most a third of the limit.
    const store = new DuckDbSegmentStore(dir, instance, conn, release, options.rowGroupSize ?? 2_048, spill, Math.floor(parseBytes(memoryLimit) / 3), options.batchCompressionLevel ?? STORE_COMPRESSION_LEVEL, { memoryLimit, threads: options.threads ?? 2 })
    try {
      if (options.write) store.removeUncommittedSegments()
      await store.checkFormat()
    } catch (error) {
      await store.close()
      throw error
    }
    return store
  }

  /**
   * Every segment has every column: a store written before a column was added (the enrichment
   * columns) would fail queries with a binder error, so say so plainly once. Segments are
   * written oldest first, so the oldest live one is the one to look at.
   */
  private async checkFormat(): Promise<void> {
    const oldest = this.liveBatches()[0]
    if (!oldest) return
    const names = new Set((await this.all<{ name: string }>(`SELECT name FROM parquet_schema(${sqlString(this.segmentPath(oldest.segment!))})`)).map((r) => r.name))
    const missing = COLUMNS.map(([n]) => n).filter((n) => !names.has(n))
    if (missing.length > 0)
      throw new KubetrailError('KT_STORE_FORMAT', `the store in ${this.dir} was written by an older kubetrail: its segments lack the column(s) ${missing.join(', ')}`, {
        hint: 'Import the logs again into a new data directory (`kubetrail import FILE... --data-dir NEW`); this version cannot read or extend the old layout.',
      })
  }

  private get chainPath(): string {
    return join(this.dir, 'chain.jsonl')
  }

  /** The writer's copy of the chain: it alone appends, so it reads the file once, not per batch (the chain only grows). */
  private writerLinks: ChainLink[] | undefined

  private chain(): ChainLink[] {
    if (this.release) return (this.writerLinks ??= readChain(this.chainPath))
    return readChain(this.chainPath)
  }

  /** Commits a link: durably appended to the file, then to the writer's copy. */
  private commitLink(link: ChainLink): void {
    appendLink(this.chainPath, link)
    this.writerLinks?.push(link)
  }

  /** Committed segments that are read: batches and compactions not pruned or compacted away. */
  private liveBatches(links = this.chain()): ChainLink[] {
    return liveLinks(links)
  }

  private segmentPath(name: string): string {
    return join(this.dir, 'segments', name)
  }

  /**
   * Segment files no link names were left by an interrupted write: they never happened. Files
   * of compacted-away batches are removed once no reader can still be using them.
   */
  private removeUncommittedSegments(): void {
    const links = this.chain()
    const live = new Set(this.liveBatches(links).map((l) => l.segment))
    const named = new Set(links.map((l) => l.segment))
    const cutoff = new Date(Date.now() - RETIRED_GRACE_MS).toISOString()
    const segmentOf = new Map(links.map((l) => [l.seq, l.segment]))
    const retiredAt = new Map<string, string>()
    for (const l of links) if (l.kind === 'compact') for (const seq of l.replaces ?? []) retiredAt.set(segmentOf.get(seq) ?? '', l.committedAt)
    for (const f of readdirSync(join(this.dir, 'segments'))) {
      const retired = retiredAt.get(f)
      if (!named.has(f) || (!live.has(f) && (!retired || retired < cutoff))) rmSync(this.segmentPath(f), { force: true })
    }
    // a leaves file without its batch's link was left by an interrupted commit (pruned batches' go with the prune)
    const withLeaves = new Set(links.filter((l) => l.leavesHash !== undefined).map((l) => this.leavesName(l.seq)))
    if (existsSync(join(this.dir, 'leaves'))) for (const f of readdirSync(join(this.dir, 'leaves'))) if (!withLeaves.has(f)) rmSync(join(this.dir, 'leaves', f), { force: true })
  }

  private leavesName(seq: number): string {
    return `${String(seq).padStart(SEGMENT_DIGITS, '0')}.leaves`
  }

  private leavesPath(seq: number): string {
    return join(this.dir, 'leaves', this.leavesName(seq))
  }

  /**
   * A batch's Merkle leaves, ascending (an order of their own: any store lays its rows out as it
   * likes), written durably before its link; returns the file's SHA-256 for the link.
   */
  private async writeLeaves(seq: number, leaves: Buffer[]): Promise<string> {
    const bytes = Buffer.concat([...leaves].sort(Buffer.compare))
    mkdirSync(join(this.dir, 'leaves'), { recursive: true, mode: 0o700 })
    const final = this.leavesPath(seq)
    const tmp = `${final}.tmp`
    writeFileSync(tmp, bytes, { mode: 0o600 })
    fsyncPath(tmp)
    renameSync(tmp, final)
    fsyncPath(join(this.dir, 'leaves'))
    return createHash('sha256').update(bytes).digest('hex')
  }

  /** The leaf hash of every event of a segment, computed by DuckDB from the stored text. */
  private async leavesFromSegment(path: string): Promise<EventLeaf[]> {
    const rows = await this.all<{ h: string; audit_id: string; stage: string }>(
      `SELECT sha256(unhex('00') || encode("cluster" || chr(10) || event)) AS h, audit_id, stage FROM read_parquet(${sqlString(path)})`,
    )
    return rows.map((r) => ({ leaf: Buffer.from(r.h, 'hex'), auditId: r.audit_id, stage: r.stage }))
  }

  /**
   * Merges runs of small segments into one (a `compact` link naming the batches it replaces), so
   * a collector committing every few seconds does not leave queries thousands of files to open.
   * Returns the number of segments merged away.
   */
  compact(options: CompactOptions = {}): Promise<number> {
    return this.exclusive(() => this.compactNow(options))
  }

  private async compactNow(options: CompactOptions): Promise<number> {
    const smallerThan = options.smallerThan ?? 50_000
    const target = options.targetEvents ?? 200_000
    let merged = 0
    // footers read once per segment, not once per merge
    const bytes = new Map<string, number>()
    for (;;) {
      const live = this.liveBatches()
      const small = live.filter((l) => l.events < smallerThan)
      if (small.length < 2) break
      await this.addUncompressedBytes(bytes, small.map((l) => l.segment!).filter((s) => !bytes.has(s)))
      let run: ChainLink[] = []
      let runEvents = 0
      let runBytes = 0
      let best: ChainLink[] = []
      for (const l of live) {
        const size = bytes.get(l.segment!) ?? Infinity
        const isSmall = l.events < smallerThan
        if (!isSmall || runEvents + l.events > target || runBytes + size > this.compactionBudget) {
          // the run ends here; a small segment starts the next one
          if (run.length > best.length) best = run
          run = []
          runEvents = 0
          runBytes = 0
          if (!isSmall) continue
        }
        run.push(l)
        runEvents += l.events
        runBytes += size
      }
      if (run.length > best.length) best = run
      if (best.length < 2) break
      // asked only when there is more to merge
      if (merged > 0 && options.yieldNow?.()) break
      await this.commitCompaction(best)
      merged += best.length - 1
    }
    this.removeUncommittedSegments()
    return merged
  }

  /** Adds each segment's size once decompressed (from its Parquet footer) to `bytes`, by segment name. */
  private async addUncompressedBytes(bytes: Map<string, number>, segments: string[]): Promise<void> {
    if (segments.length === 0) return
    const rows = await this.all<{ file_name: string; bytes: string }>(
      `SELECT file_name, sum(total_uncompressed_size) AS bytes FROM parquet_metadata(${fileList(segments.map((s) => this.segmentPath(s)))}) GROUP BY file_name`,
    )
    const bySegment = new Map(rows.map((r) => [basename(r.file_name), Number(r.bytes)]))
    for (const s of segments) bytes.set(s, bySegment.get(s) ?? Infinity)
  }

  /**
   * Merges `parts` into one segment. What it reads is checked against the chain before the merge
   * and again before the new link is committed (a file changed in between is not laundered
   * either): merging a tampered batch would give forged events a fresh, valid hash.
   */
  private async commitCompaction(parts: ChainLink[]): Promise<void> {
    const check = () => checkBeforeRewrite('compaction', this.chain(), parts, this.segmentContent)
    await check()
    const files = fileList(parts.map((l) => this.segmentPath(l.segment!)))
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE compaction AS
      SELECT filename, row_in_batch, row_number() OVER (ORDER BY "cluster", resource, verb, username, request_received_at, filename, row_in_batch) AS new_row
      FROM read_parquet(${files}, filename = true)`)
    const cols = COLUMNS.map(([n]) => `"${n}"`).join(', ')
    const link = await this.commit(
      `SELECT ${cols}, c.new_row AS row_in_batch FROM read_parquet(${files}, filename = true) s JOIN compaction c USING (filename, row_in_batch) ORDER BY c.new_row`,
      { kind: 'compact', replaces: parts.map((l) => l.seq), replacedHashes: parts.map((l) => l.contentHash), expectEvents: parts.reduce((n, l) => n + l.events, 0), recheck: check },
    )
    await this.conn.run('DROP TABLE compaction')
    if (!link) throw new KubetrailError('KT_STORE_WRITE_FAILED', `compaction of batches ${parts[0]!.seq}..${parts.at(-1)!.seq} wrote nothing`)
  }

  private async all<T>(sql: string, params: SqlParam[] = []): Promise<T[]> {
    // one round trip instead of two (prepare, then run) when there is nothing to bind: in a
    // collector each waits for an event loop busy with requests
    if (params.length === 0) return (await this.conn.runAndReadAll(sql)).getRowObjectsJson() as T[]
    const prepared = await this.conn.prepare(sql)
    params.forEach((p, i) => {
      if (typeof p === 'number') prepared.bindDouble(i + 1, p)
      else prepared.bindVarchar(i + 1, p)
    })
    const reader = await prepared.runAndReadAll()
    return reader.getRowObjectsJson() as T[]
  }

  /** Writes share one connection and its temporary tables: they run one at a time. */
  private writeLane: Promise<unknown> = Promise.resolve()

  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = this.writeLane.then(op, op)
    this.writeLane = run.catch(() => undefined)
    return run
  }

  append(events: readonly RawEvent[], cluster: string): Promise<AppendResult> {
    return this.exclusive(() => this.appendChecked(events, cluster))
  }

  private async appendChecked(events: readonly RawEvent[], cluster: string): Promise<AppendResult> {
    try {
      return await this.appendBatch(events, cluster)
    } catch (error) {
      if (error instanceof KubetrailError) throw error
      // nothing of this batch was committed (the chain link is the commit point)
      throw new KubetrailError('KT_STORE_WRITE_FAILED', `could not store a batch of ${events.length} events: ${(error as Error).message.split('\n')[0]}`, {
        cause: error,
        hint: 'Nothing of this batch was stored; rerun the import (already stored events are skipped). If memory ran out, use a smaller --batch-size.',
      })
    }
  }

  private async appendBatch(events: readonly RawEvent[], cluster: string): Promise<AppendResult> {
    if (events.length === 0) return { stored: 0, duplicates: 0, malformed: [], storedIndexes: [], link: undefined }
    await this.conn.run('CREATE OR REPLACE TEMP TABLE incoming(idx BIGINT, raw VARCHAR)')
    const appender = await this.conn.createAppender('incoming')
    for (let i = 0; i < events.length; i++) {
      appender.appendBigInt(BigInt(i))
      appender.appendVarchar(events[i]!.json)
      appender.endRow()
      // the appender is synchronous: let a collector's requests in between
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r))
    }
    appender.flushSync()
    appender.closeSync()
    try {
      // the Merkle leaves from the text in hand (~1.4 µs an event; DuckDB's sha256 costs several times that)
      return await this.commitIncoming('incoming', cluster, async (idx) => events[idx]!, { reportIndexes: true, leafOf: (idx) => eventLeafHash(cluster, events[idx]!.json) })
    } finally {
      await this.conn.run('DROP TABLE incoming')
    }
  }

  appendClusterLines(path: string): Promise<ClusterResults> {
    return this.exclusive(async () => {
      try {
        return await this.appendClusterLinesNow(path)
      } catch (error) {
        if (error instanceof KubetrailError) throw error
        throw new KubetrailError('KT_STORE_WRITE_FAILED', `could not store the events of ${path}: ${(error as Error).message.split('\n')[0]}`, { cause: error })
      } finally {
        await this.conn.run('DROP TABLE IF EXISTS tagged')
      }
    })
  }

  /**
   * DuckDB reads the file itself, so no event passes through JavaScript: in a collector, the
   * thread that answers the webhook does not also copy every event into the store. A file of
   * store lines has its own path; an older file of JSON lines is read with DuckDB's CSV reader as
   * a line reader (row numbers are line numbers) and parsed in SQL.
   */
  private async appendClusterLinesNow(path: string): Promise<ClusterResults> {
    const lines = storeLinesIn(path)
    if (lines === 'torn') throw new KubetrailError('KT_STORE_WRITE_FAILED', `${path} ends with a torn line: read it line by line instead`)
    if (lines === 'complete') return this.appendStoreLinesNow(path)
    // a last line without its newline was never acknowledged: it is not read
    const complete = completeLineCount(path)
    if (complete === 0) return []
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE tagged AS
      SELECT rn AS idx, left(line, strpos(line, chr(9)) - 1) AS "cluster", substr(line, strpos(line, chr(9)) + 1) AS raw
      FROM (SELECT row_number() OVER () AS rn, line FROM read_csv(${sqlString(path)}, columns = {'line': 'VARCHAR'}, delim = '\u0001', quote = '', escape = '',
        header = false, auto_detect = false, compression = 'none', max_line_size = ${MAX_CLUSTER_LINE_BYTES}, buffer_size = ${4 * MAX_CLUSTER_LINE_BYTES}))
      WHERE rn <= ${complete} AND strpos(line, chr(9)) > 1`)
    const out: ClusterResults = []
    for (const { cluster } of await this.all<{ cluster: string }>('SELECT DISTINCT "cluster" FROM tagged ORDER BY 1')) {
      const source = `(SELECT idx, raw FROM tagged WHERE "cluster" = ${sqlString(cluster)})`
      const result = await this.commitIncoming(source, cluster, async (idx) => {
        const [row] = await this.all<{ raw: string }>(`SELECT raw FROM tagged WHERE idx = ${idx}`)
        return { json: row?.raw ?? '', file: path, line: idx }
      })
      out.push({ cluster, result })
    }
    return out
  }

  /**
   * A file of store lines (the collector's): the columns were computed when the events were
   * received and checked, so each cluster's batch is one statement that reads, de-duplicates,
   * sorts and writes it, without parsing the JSON (but for the rare slow line). A file this
   * cannot read (not all store lines, a torn last line) fails here, and the caller reads it
   * line by line instead.
   */
  private async appendStoreLinesNow(path: string): Promise<ClusterResults> {
    const lines = readStoreLinesSql(path, MAX_STORE_LINE_BYTES)
    const batches = await this.all<{ cluster: string; lo: string; hi: string; n: string; slow: string; fast_keys: string; well_formed: boolean }>(storeLineBatchesSql(lines))
    if (!batches.every((b) => b.well_formed)) throw new KubetrailError('KT_STORE_WRITE_FAILED', `${path} holds lines that are not store lines: read it line by line instead`)
    const out: ClusterResults = []
    const leavesByCluster = walLeaves(path)
    for (const { cluster, lo, hi, n, slow, fast_keys } of batches) {
      // the usual batch: all fast rows, no two alike (so no line order is needed to pick the first)
      const simple = Number(slow) === 0 && Number(fast_keys) === Number(n)
      const rows = simple
        ? this.novelRows(fastColumnsOfStoreLines(lines, cluster), cluster, lo, hi, { unique: true })
        : this.novelRows(columnsOfStoreLines(`(SELECT row_number() OVER () AS idx, * FROM ${lines})`, cluster), cluster, lo, hi)
      // (audit_id, stage) completes the order: after de-duplication no two rows tie
      // every line stored (the usual case): the leaves are those of the lines; else the segment's are computed
      const lineLeaves = leavesByCluster.get(cluster) ?? []
      const link = await this.commit(`SELECT ${COLUMNS.map(([name]) => `"${name}"`).join(', ')}, row_number() OVER (ORDER BY resource, verb, username, request_received_at, audit_id, stage) AS row_in_batch
        FROM ${rows} ORDER BY row_in_batch`, undefined, async (events) => (events === lineLeaves.length ? lineLeaves : undefined))
      const stored = link?.events ?? 0
      out.push({ cluster, result: { stored, duplicates: Number(n) - stored, malformed: [], link } })
    }
    return out
  }

  /**
   * The rows of `rowsSql` (with `idx`, audit_id, stage, request_received_at) not yet stored for
   * `cluster`, and of several equal ones the first (`unique`: the caller knows there are none,
   * and `idx` may be absent). Identity: (cluster, auditID, stage, request time). auditIDs are
   * client-settable, so two different requests may share one; the same request re-read from an
   * overlapping file may not. Only segments whose time range overlaps [lo, hi] (request times,
   * ISO text) are read.
   */
  private novelRows(rowsSql: string, cluster: string, lo: string | null, hi: string | null, { unique = false } = {}): string {
    const overlapping = this.liveBatches()
      .filter((l) => l.firstAt && l.lastAt && lo && hi && l.firstAt <= hi && l.lastAt >= lo)
      .map((l) => this.segmentPath(l.segment!))
    const stored = overlapping.length > 0
      ? ` ANTI JOIN (SELECT audit_id, stage, request_received_at FROM read_parquet(${fileList(overlapping)}) WHERE "cluster" = ${sqlString(cluster)}) e USING (audit_id, stage, request_received_at)`
      : ''
    const firstOfEqual = unique ? '' : ' QUALIFY row_number() OVER (PARTITION BY audit_id, stage, request_received_at ORDER BY idx) = 1'
    return `(SELECT * FROM ${rowsSql}${stored}${firstOfEqual})`
  }

  /**
   * Validates, de-duplicates and commits the rows (idx, raw) of `source` as one batch of
   * `cluster`; `eventAt` gives the text and place of a row, for the report of a malformed one.
   */
  private async commitIncoming(
    source: string,
    cluster: string,
    eventAt: (idx: number) => Promise<RawEvent>,
    { reportIndexes = false, leafOf }: { reportIndexes?: boolean; leafOf?: (idx: number) => Buffer } = {},
  ): Promise<AppendResult> {
    const malformed: MalformedLine[] = []
    // Only the small key columns are materialized: copying the raw events into a second table
    // costs more than parsing them twice (measured: 1.0 s against 0.25 s per 100 MB).
    // try() turns a JSON syntax error into NULL instead of failing the batch.
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE fresh AS
      SELECT idx, (${PROBLEM_SQL}) AS problem, t.auditID AS audit_id, t.stage AS stage, ${TS('t.requestReceivedTimestamp')} AS request_received_at,
        ${TS('t.stageTimestamp')} AS stage_at, coalesce(t.objectRef.resource, '') AS resource, t.verb AS verb, t.user.username AS username
      FROM (SELECT idx, try(json_transform(raw, ${sqlString(KEY_STRUCT)})) AS t FROM ${source})`)
    for (const bad of await this.all<{ idx: string; problem: string }>('SELECT idx, problem FROM fresh WHERE problem IS NOT NULL ORDER BY idx')) {
      const e = await eventAt(Number(bad.idx))
      malformed.push({ file: e.file, line: e.line, reason: await preciseReason(e.json, bad.problem) })
    }
    await this.conn.run('DELETE FROM fresh WHERE problem IS NOT NULL')
    const [range] = await this.all<{ lo: string | null; hi: string | null; n: string }>(
      `SELECT ${ISO_TIME('min(request_received_at)')} lo, ${ISO_TIME('max(request_received_at)')} hi, count(*) n FROM fresh`,
    )
    const valid = Number(range!.n)
    // The stored order, decided here on the small columns: sorted by resource, verb and user,
    // similar events sit side by side and compress far better (1/6.3 of the raw log at zstd 6,
    // against 1/5.2 sorted by time at zstd 3).
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE novel AS
      SELECT idx, request_received_at, stage_at, row_number() OVER (ORDER BY resource, verb, username, request_received_at, idx) AS row_in_batch
      FROM ${this.novelRows('fresh', cluster, range!.lo, range!.hi)}`)
    const select = COLUMNS.map(([n, t, expr]) => `CAST(${expr.replace('$cluster', sqlString(cluster))} AS ${t}) AS "${n}"`).join(', ')
    const parsed = `(SELECT raw, row_in_batch, json_transform(raw, ${sqlString(EVENT_STRUCT)}) AS t FROM ${source} JOIN novel USING (idx))`
    const leaves = leafOf && (async () => (await this.all<{ idx: string }>('SELECT idx FROM novel')).map((r) => leafOf(Number(r.idx))))
    const link = await this.commit(`SELECT ${select}, row_in_batch FROM ${withBodies(parsed)} ORDER BY row_in_batch`, undefined, leaves)
    const storedIndexes = reportIndexes && link ? (await this.all<{ idx: string }>('SELECT idx FROM novel ORDER BY idx')).map((r) => Number(r.idx)) : []
    for (const table of ['fresh', 'novel']) await this.conn.run(`DROP TABLE ${table}`)
    const stored = link?.events ?? 0
    return { stored, duplicates: valid - stored, malformed, link, ...(reportIndexes ? { storedIndexes } : {}) }
  }

  /** Writes the rows of `rowsSql` as the next segment and commits it; undefined when there are none. */
  /**
   * Writes the rows of `rowsSql` as the next segment and commits it; undefined when there are
   * none. A batch also gets its leaves file (`leavesOf`: the leaf hashes of what it stored, when
   * the caller knows them; else they are computed from the segment).
   */
  private async commit(
    rowsSql: string,
    compaction?: { kind: 'compact'; replaces: number[]; replacedHashes: string[]; expectEvents: number; recheck: () => Promise<void> },
    leavesOf?: (events: number) => Promise<Buffer[] | undefined>,
  ): Promise<ChainLink | undefined> {
    const prev = this.chain().at(-1)
    const seq = (prev?.seq ?? 0) + 1
    const name = `${String(seq).padStart(SEGMENT_DIGITS, '0')}.parquet`
    const tmp = this.segmentPath(`.tmp-${name}`)
    const [copied] = await this.all<{ Count: string }>(
      `COPY (${rowsSql})
       TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL ${compaction ? STORE_COMPRESSION_LEVEL : this.batchCompressionLevel}, ROW_GROUP_SIZE ${this.rowGroupSize})`,
    )
    const events = Number(copied?.Count ?? 0)
    if (events === 0) {
      rmSync(tmp, { force: true })
      return undefined
    }
    if (compaction && events !== compaction.expectEvents) {
      rmSync(tmp, { force: true })
      throw new KubetrailError('KT_STORE_CORRUPT', `compaction read ${events} events from segments committed with ${compaction.expectEvents}`, { hint: 'Run `kubetrail verify`.' })
    }
    try {
      await compaction?.recheck()
    } catch (error) {
      rmSync(tmp, { force: true })
      throw error
    }
    chmodSync(tmp, 0o600)
    fsyncPath(tmp)
    const final = this.segmentPath(name)
    renameSync(tmp, final)
    fsyncPath(join(this.dir, 'segments'))
    const [range] = await this.all<{ lo: string; hi: string }>(
      `SELECT ${ISO_TIME('min(request_received_at)')} lo, ${ISO_TIME('max(stage_at)')} hi FROM read_parquet(${sqlString(final)})`,
    )
    // read at once: the segment was just written (a few MB, in the page cache)
    const contentHash = fileSha256Sync(final)
    const leavesHash = compaction ? undefined : await this.writeLeaves(seq, (await leavesOf?.(events)) ?? (await this.leavesFromSegment(final)).map((e) => e.leaf))
    const link = nextLink(prev, compaction
      ? { kind: 'compact', replaces: compaction.replaces, replacedHashes: compaction.replacedHashes, segment: name, events, firstAt: range!.lo, lastAt: range!.hi, contentHash }
      : { kind: 'batch', segment: name, events, firstAt: range!.lo, lastAt: range!.hi, contentHash, leavesHash })
    this.commitLink(link)
    return link
  }

  /** Rows in a segment, from its footer. */
  private async segmentRows(path: string): Promise<number> {
    const [row] = await this.all<{ n: string }>(`SELECT count(*) n FROM read_parquet(${sqlString(path)})`)
    return Number(row!.n)
  }

  private source(): string | undefined {
    const files = this.liveBatches().map((l) => this.segmentPath(l.segment!))
    return files.length === 0 ? undefined : `read_parquet(${fileList(files)})`
  }

  async *query(q: EventQuery): AsyncIterable<StoredEvent> {
    const files = this.liveBatches().map((l) => this.segmentPath(l.segment!))
    if (files.length === 0) return
    const built = buildWhere(q)
    const params = built.params
    const where = built.where + perRequestClause(q)
    const order = q.order === 'oldest' ? 'ASC' : 'DESC'
    const orderBy = `ORDER BY request_received_at ${order}, stage_at ${order}`
    if (q.limit === undefined) {
      const rows = await this.all<{ cluster: string; event: string }>(`SELECT "cluster", event FROM read_parquet(${fileList(files)}, filename = true) ${where} ${orderBy}`, params)
      for (const r of rows) yield { cluster: r.cluster, raw: r.event, event: JSON.parse(r.event) as AuditEvent }
      return
    }
    // Top-N in two steps: find the rows from the small columns, then read only their events
    // (rows are stored in row_in_batch order, so the IN list prunes row groups).
    const top = await this.all<{ filename: string; row_in_batch: string }>(
      `SELECT filename, row_in_batch FROM read_parquet(${fileList(files)}, filename = true) ${where} ${orderBy}, filename, row_in_batch LIMIT ${Math.max(0, Math.floor(q.limit))} OFFSET ${Math.max(0, Math.floor(q.offset ?? 0))}`,
      params,
    )
    // One query over every file involved, so DuckDB reads them in parallel; the IN list prunes
    // row groups by min/max, and the pair check below drops rows of the same number in other files.
    const wanted = new Set(top.map((t) => `${t.filename}\u0000${t.row_in_batch}`))
    const events = new Map<string, { cluster: string; event: string }>()
    if (top.length > 0) {
      const found = await this.all<{ filename: string; row_in_batch: string; cluster: string; event: string }>(
        `SELECT filename, row_in_batch, "cluster", event FROM read_parquet(${fileList([...new Set(top.map((t) => t.filename))])}, filename = true)
         WHERE row_in_batch IN (${[...new Set(top.map((t) => t.row_in_batch))].join(', ')})`,
      )
      for (const f of found) {
        const key = `${f.filename}\u0000${f.row_in_batch}`
        if (wanted.has(key)) events.set(key, f)
      }
    }
    for (const t of top) {
      const r = events.get(`${t.filename}\u0000${t.row_in_batch}`)
      if (r) yield { cluster: r.cluster, raw: r.event, event: JSON.parse(r.event) as AuditEvent }
    }
  }

  async count(q: EventQuery): Promise<number> {
    const from = this.source()
    if (!from) return 0
    const { where, params } = buildWhere(q)
    const counted = q.perRequest ? `(SELECT 1 FROM ${from} ${where}${perRequestClause(q)})` : `${from} ${where}`
    const [row] = await this.all<{ n: string }>(`SELECT count(*) n FROM ${counted}`, params)
    return Number(row!.n)
  }

  async top(field: TopField, q: EventQuery, limit: number): Promise<Array<{ value: string; count: number }>> {
    const from = this.source()
    if (!from) return []
    const { where, params } = buildWhere(q)
    const expr = TOP_EXPR[field]
    const rows = await this.all<{ value: string | null; n: string }>(
      // the value in a subquery: DuckDB cannot group on an unnest (source-ip)
      `SELECT value, count(*) n FROM (SELECT ${expr} AS value FROM ${from} ${where}) GROUP BY ALL ORDER BY n DESC, value LIMIT ${Math.max(1, Math.floor(limit))}`,
      params,
    )
    return rows.map((r) => ({ value: r.value ?? '', count: Number(r.n) }))
  }

  async access(q: EventQuery, options: AccessOptions = {}): Promise<AccessRow[]> {
    const from = this.source()
    if (!from) return []
    const { where, params } = buildWhere({ ...q, stages: undefined, limit: undefined, offset: undefined })
    const stage = `stage IN ('ResponseComplete', 'Panic')`
    const annotation = (key: string) => `coalesce(json_extract_string(annotations, '$."authorization.k8s.io/${key}"'), '')`
    const rows = await this.all<{
      cluster: string; user: string; groups: string[]; iuser: string; igroups: string[]; verb: string; api_group: string; resource: string; subresource: string
      namespace: string; name: string; path: string; code: number; decision: string; reason: string; n: string; first_at: string; last_at: string
    }>(
      `SELECT "cluster", coalesce(username, '') AS "user", user_groups AS groups, coalesce(impersonated_user, '') AS iuser, impersonated_groups AS igroups, verb,
        api_group, resource, subresource, "namespace", ${options.names === false ? "''" : '"name"'} AS "name",
        CASE WHEN resource = '' THEN split_part(request_uri, '?', 1) ELSE '' END AS path, coalesce(code, 0) AS code,
        ${annotation('decision')} AS decision, ${annotation('reason')} AS reason,
        count(*) AS n, ${ISO_TIME('min(request_received_at)')} AS first_at, ${ISO_TIME('max(request_received_at)')} AS last_at
       FROM ${from} ${where ? `${where} AND ${stage}` : `WHERE ${stage}`} GROUP BY ALL`,
      params,
    )
    return rows.map((r) => ({
      cluster: r.cluster, user: r.user, groups: r.groups, impersonatedUser: r.iuser, impersonatedGroups: r.igroups, verb: r.verb, apiGroup: r.api_group,
      resource: r.resource, subresource: r.subresource, namespace: r.namespace, name: r.name, path: r.path, code: Number(r.code),
      decision: r.decision, reason: r.reason, requests: Number(r.n), firstAt: r.first_at, lastAt: r.last_at,
    }))
  }

  sql(statement: string): Promise<SqlResult> {
    return runReadOnlySql(this.liveBatches().map((l) => this.segmentPath(l.segment!)), statement, this.sandbox)
  }

  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyChain(this.chain(), this.segmentContent, options)
  }

  async head(): Promise<ChainHead | undefined> {
    return headOf(this.chain())
  }

  /** A batch's segment file against its link: its event count, then the SHA-256 of its bytes. */
  private readonly segmentContent: ContentCheck = async (l, retired) => {
    if (l.kind === 'batch' && l.leavesHash !== undefined && !prunedBatchSeqs(this.chain()).has(l.seq)) {
      const leaves = this.leavesPath(l.seq)
      if (!existsSync(leaves)) return `its Merkle leaves file ${basename(leaves)} is missing`
      if (createHash('sha256').update(readFileSync(leaves)).digest('hex') !== l.leavesHash) return 'its Merkle leaves differ from what was committed'
    }
    const path = this.segmentPath(l.segment!)
    if (!existsSync(path)) return retired ? undefined : `its segment ${l.segment} is missing (removed outside \`kubetrail prune\`)`
    try {
      const rows = await this.segmentRows(path)
      if (rows !== l.events) return `holds ${rows} events, committed with ${l.events} (events were removed or inserted)`
      if ((await fileSha256(path)) !== l.contentHash) return 'its content differs from what was committed (a stored field was altered or events were reordered)'
      return undefined
    } catch (error) {
      return `its segment ${l.segment} cannot be read (${(error as Error).message.split('\n')[0]})`
    }
  }

  prune(olderThan: Date): Promise<PruneReport> {
    return this.exclusive(() => this.pruneNow(olderThan))
  }

  /**
   * A batch goes when its newest event, read from the events themselves, is older than the
   * cutoff: a link's `lastAt` is not trusted (set to 2001 in a version-1 link, it got a recent
   * batch pruned). What is removed is checked against the chain first.
   */
  private async pruneNow(olderThan: Date): Promise<PruneReport> {
    const cutoff = olderThan.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
    const links = this.chain()
    const live = this.liveBatches(links)
    if (live.length === 0) return { prunedBatches: 0, prunedEvents: 0 }
    const newest = new Map(
      (await this.all<{ file_name: string; newest: string | null }>(
        `SELECT filename AS file_name, ${ISO_TIME('max(greatest(request_received_at, stage_at))')} AS newest FROM read_parquet(${fileList(live.map((l) => this.segmentPath(l.segment!)))}, filename = true) GROUP BY filename`,
      )).map((r) => [basename(r.file_name), r.newest]),
    )
    // a batch whose events have no time at all is never old
    const old = live.filter((l) => { const n = newest.get(l.segment!); return n !== undefined && n !== null && n < cutoff })
    await checkBeforeRewrite('prune', links, old, this.segmentContent)
    let last = links.at(-1)
    for (const l of old) {
      // the Merkle tree keeps what it needs of the removed batches: the subtrees covering their leaves
      const origin = originBatches(links, l.seq).filter((b) => b.leavesHash !== undefined)
      const subtrees = this.subtreesOfBatches(links, origin)
      // the prune is committed first: a crash after it leaves files that are no longer read
      last = nextLink(last, { kind: 'prune', prunedSeq: l.seq, segment: l.segment, events: l.events, lastAt: newest.get(l.segment!)!, contentHash: l.contentHash, ...(subtrees.length > 0 ? { subtrees } : {}) })
      this.commitLink(last)
      rmSync(this.segmentPath(l.segment!), { force: true })
      for (const b of origin) rmSync(this.leavesPath(b.seq), { force: true })
    }
    return { prunedBatches: old.length, prunedEvents: old.reduce((n, l) => n + l.events, 0) }
  }

  /** The subtree hashes a pruned batch leaves in the tree, from its leaves file (checked against its link first). */
  private subtreesOfBatches(links: readonly ChainLink[], batches: readonly ChainLink[]): PrunedSubtree[] {
    const startOf = new Map(leafLayout(links).map((g) => [g.seq, g.start]))
    return batches.flatMap((b) => {
      const bytes = readFileSync(this.leavesPath(b.seq))
      if (createHash('sha256').update(bytes).digest('hex') !== b.leavesHash) throw new StoreTamperedError('prune', [{ seq: b.seq, problem: 'its Merkle leaves differ from what was committed' }])
      return subtreesOf(startOf.get(b.seq)!, bytes).map((s) => ({ seq: b.seq, start: s.start, size: s.size, hash: s.hash.toString('hex') }))
    })
  }

  async links(): Promise<readonly ChainLink[]> {
    return [...this.chain()]
  }

  async merkleGroups(): Promise<LeafGroup[]> {
    const links = this.chain()
    const pruned = new Map<number, PrunedSubtree[]>()
    for (const l of links) for (const s of l.kind === 'prune' ? (l.subtrees ?? []) : []) pruned.set(s.seq, [...(pruned.get(s.seq) ?? []), s])
    return leafLayout(links).map(({ seq, start, size }) => {
      const subtrees = pruned.get(seq)
      if (subtrees) return { seq, start, size, subtrees: subtrees.map((s) => ({ start: s.start, size: s.size, hash: Buffer.from(s.hash, 'hex') })) }
      const path = this.leavesPath(seq)
      return existsSync(path) ? { seq, start, size, leaves: readFileSync(path) } : { seq, start, size }
    })
  }

  async recomputeLeaves(link: ChainLink): Promise<EventLeaf[]> {
    return this.leavesFromSegment(this.segmentPath(link.segment!))
  }

  async findEvents(auditId: string): Promise<Array<{ cluster: string; raw: string }>> {
    const files = this.liveBatches().map((l) => this.segmentPath(l.segment!))
    if (files.length === 0) return []
    const rows = await this.all<{ cluster: string; event: string }>(`SELECT "cluster", event FROM read_parquet(${fileList(files)}) WHERE audit_id = ? ORDER BY stage_at, stage`, [auditId])
    return rows.map((r) => ({ cluster: r.cluster, raw: r.event }))
  }

  async saveCheckpoint(text: string, treeSize: number): Promise<void> {
    const dir = join(this.dir, 'checkpoints')
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    // names sort oldest first: tree size, then the time
    writeFileSync(join(dir, `${String(treeSize).padStart(14, '0')}-${Date.now()}.checkpoint`), text, { mode: 0o600, flag: 'wx' })
  }

  async savedCheckpoints(): Promise<string[]> {
    const dir = join(this.dir, 'checkpoints')
    if (!existsSync(dir)) return []
    return readdirSync(dir).filter((f) => f.endsWith('.checkpoint')).sort().map((f) => readFileSync(join(dir, f), 'utf8'))
  }

  async stats(): Promise<StoreStats> {
    const live = this.liveBatches()
    const bytes = live.reduce((n, l) => n + (existsSync(this.segmentPath(l.segment!)) ? statSync(this.segmentPath(l.segment!)).size : 0), 0)
    const from = this.source()
    const clusters = from ? (await this.all<{ cluster: string }>(`SELECT DISTINCT "cluster" FROM ${from} ORDER BY 1`)).map((r) => r.cluster) : []
    const firsts = live.flatMap((l) => (l.firstAt ? [l.firstAt] : [])).sort()
    const lasts = live.flatMap((l) => (l.lastAt ? [l.lastAt] : [])).sort()
    return {
      events: live.reduce((n, l) => n + l.events, 0),
      batches: live.length,
      bytes,
      clusters,
      ...(firsts.length > 0 ? { firstAt: firsts[0], lastAt: lasts[lasts.length - 1] } : {}),
    }
  }

  async status(): Promise<StoreStatus> {
    const live = this.liveBatches()
    const from = this.source()
    const rows = from ? await this.all<{ cluster: string; n: string; raw: string }>(`SELECT "cluster", count(*) n, sum(strlen(event)) raw FROM ${from} GROUP BY 1 ORDER BY 1`) : []
    const stats = await this.stats()
    return {
      backend: 'duckdb',
      location: `duckdb:${this.dir}`,
      events: stats.events,
      batches: stats.batches,
      bytes: stats.bytes,
      rawBytes: rows.reduce((n, r) => n + Number(r.raw), 0),
      parts: live.length,
      clusters: rows.map((r) => ({ cluster: r.cluster, events: Number(r.n) })),
    }
  }

  /** Segment by segment, in slices of row_in_batch (segments are stored in that order: each slice reads a few row groups). */
  async *scan(): AsyncIterable<StoredEvent[]> {
    const slice = 5_000
    for (const l of this.liveBatches()) {
      const path = sqlString(this.segmentPath(l.segment!))
      for (let lo = 1; lo <= l.events; lo += slice) {
        const rows = await this.all<{ cluster: string; event: string }>(`SELECT "cluster", event FROM read_parquet(${path}) WHERE row_in_batch BETWEEN ${lo} AND ${lo + slice - 1} ORDER BY row_in_batch`)
        if (rows.length > 0) yield rows.map((r) => ({ cluster: r.cluster, raw: r.event, event: JSON.parse(r.event) as AuditEvent }))
      }
    }
  }

  async close(): Promise<void> {
    this.conn.closeSync()
    this.instance.closeSync()
    rmSync(this.spillDir, { recursive: true, force: true })
    this.release?.()
  }
}

/** '160MB', '1GB' (DuckDB's memory_limit syntax, decimal units as DuckDB reads them) in bytes. */
function parseBytes(size: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(size.trim())
  if (!m) throw new KubetrailError('KT_USAGE', `not a memory size: ${size}`)
  const unit = (m[2] ?? 'B').toLowerCase()
  const scale: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }
  return Number(m[1]) * scale[unit]!
}

/**
 * Whether a WAL file holds store lines (its first line is one), and if so whether its last line
 * is torn (left by a crash: the line-by-line path skips it); false for an older file of JSON lines.
 */
function storeLinesIn(path: string): 'complete' | 'torn' | false {
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    const head = Buffer.alloc(Math.min(size, 512))
    readSync(fd, head, 0, head.length, 0)
    const text = head.toString('latin1')
    const tab = text.indexOf('\t')
    if (!(tab > 0 && text.startsWith(`${STORE_LINE_MARKER}\t`, tab + 1))) return false
    const last = Buffer.alloc(1)
    return readSync(fd, last, 0, 1, size - 1) === 1 && last[0] === 10 ? 'complete' : 'torn'
  } finally {
    closeSync(fd)
  }
}

/**
 * Store lines longer than this fail the one-statement read (and the file is read line by line):
 * DuckDB's CSV reader takes a buffer of 4x this, and at 8 MB that buffer and a batch's sort did
 * not fit the collector's 96 MB together (the statement ran out of memory without a spill
 * directory, measured). Events of MBs are rare.
 */
const MAX_STORE_LINE_BYTES = 2 * 1024 * 1024

/** Lines longer than this make appendClusterLines fail; the caller then reads the file itself. */
const MAX_CLUSTER_LINE_BYTES = 8 * 1024 * 1024

/**
 * How many lines of the file end with a newline (a torn last line does not count). A file with a
 * bare CR is refused: DuckDB's line reader would split there, the caller's own reader does not.
 */
function completeLineCount(path: string): number {
  let lines = 0
  scanFileSync(path, (b) => {
    if (b.includes(13)) throw new KubetrailError('KT_STORE_WRITE_FAILED', `${path} holds a carriage return: read it line by line instead`)
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++
  })
  return lines
}

/**
 * One buffer for the commit path's whole-file scans (counting a WAL file's lines, hashing a new
 * segment): a stream allocates a new 64 kB buffer per chunk, which V8 collected late in the
 * collector's sealer thread (~35 MB waiting, measured). The scans are synchronous (files of a few
 * MB in the page cache: each asynchronous read would wait for the collector's busy event loop),
 * so they never overlap.
 */
let scanBuffer: Buffer | undefined

/** Calls `onChunk` with each piece of the file in order (the buffer is reused: copy what you keep). */
function scanFileSync(path: string, onChunk: (chunk: Buffer) => void): void {
  scanBuffer ??= Buffer.allocUnsafe(1 << 20)
  const fd = openSync(path, 'r')
  try {
    for (let n = readSync(fd, scanBuffer); n > 0; n = readSync(fd, scanBuffer)) onChunk(scanBuffer.subarray(0, n))
  } finally {
    closeSync(fd)
  }
}

/** How long a compacted-away segment stays on disk for readers that listed it just before. */
const RETIRED_GRACE_MS = 5 * 60_000

/** Batches whose leaves a prune replaced by subtrees (a pruned compaction's too). */
function prunedBatchSeqs(links: readonly ChainLink[]): Set<number> {
  const out = new Set<number>()
  for (const l of links) if (l.kind === 'prune' && l.prunedSeq !== undefined) for (const b of originBatches(links, l.prunedSeq)) out.add(b.seq)
  return out
}

/**
 * The Merkle leaves of a file of store lines, per cluster, in line order: the cluster is the
 * first field, the event's JSON the last (it holds no raw tab), hashed from the bytes as they
 * are (no decoding), as the store will hold them.
 */
function walLeaves(path: string): Map<string, Buffer[]> {
  const text = readFileSync(path)
  const out = new Map<string, Buffer[]>()
  let scratch = Buffer.allocUnsafe(64 * 1024)
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf(10, start)
    if (end < 0) break
    const firstTab = text.indexOf(9, start)
    const lastTab = text.lastIndexOf(9, end)
    if (firstTab > start && firstTab < end) {
      const clusterBytes = text.subarray(start, firstTab)
      const json = text.subarray(lastTab + 1, end)
      const need = 2 + clusterBytes.length + json.length
      if (scratch.length < need) scratch = Buffer.allocUnsafe(need * 2)
      scratch[0] = 0
      clusterBytes.copy(scratch, 1)
      scratch[1 + clusterBytes.length] = 10
      json.copy(scratch, 2 + clusterBytes.length)
      const cluster = clusterBytes.toString('utf8')
      let list = out.get(cluster)
      if (!list) out.set(cluster, (list = []))
      list.push(hash('sha256', scratch.subarray(0, need), 'buffer') as unknown as Buffer)
    }
    start = end + 1
  }
  return out
}

/** SHA-256 of a file's bytes, streamed (`verify`: segments can be large, and a serve answering it goes on receiving). */
async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** SHA-256 of a segment just written (a few MB in the page cache), read at once. */
function fileSha256Sync(path: string): string {
  const hash = createHash('sha256')
  scanFileSync(path, (chunk) => hash.update(chunk))
  return hash.digest('hex')
}

/** The `events` view's columns and types, for `kubetrail sql --columns`. */
export const EVENT_COLUMNS: ReadonlyArray<{ name: string; type: string }> = COLUMNS.map(([name, type]) => ({ name, type }))
