/**
 * @module What every audit store provides, whatever it is built on. Nothing here knows about
 * DuckDB or ClickHouse: an implementation lives in its own folder and is checked by the shared
 * store suite (`store.suite.ts`).
 */
import type { AuditEvent, Level, Stage } from '../model/index.js'
import type { MalformedLine } from '../ingest/index.js'
import type { LeafGroup } from './merkle.js'

import type { RawEvent } from '../ingest/index.js'
export type { RawEvent }

export interface AppendResult {
  /** Events newly stored. */
  stored: number
  /** Events already in the store (same cluster, auditID, stage and request time). */
  duplicates: number
  malformed: MalformedLine[]
  /**
   * `append`: the positions in the batch of the events newly stored (what was not a duplicate
   * nor malformed), so a caller can report on exactly those (import's redaction count).
   */
  storedIndexes?: number[]
  /** The chain link that commits this batch; undefined when nothing new was stored. */
  link: ChainLink | undefined
}

/** One committed batch in the tamper-evident chain (src/store/chain.ts; docs/store.md). */
export interface ChainLink {
  /** Link format: 2 hashes every field; absent in links written before (their own hash is kept). */
  v?: number
  seq: number
  kind: 'batch' | 'prune' | 'compact'
  /** batch, compact: the segment holding its events; prune: the batch it removed. */
  segment?: string
  prunedSeq?: number
  /** compact: the batches (and earlier compactions) merged into this segment. */
  replaces?: number[]
  /** compact: the content hash of each of `replaces`, as the compaction read and checked it. */
  replacedHashes?: string[]
  /**
   * batch: SHA-256 of its leaves file, the Merkle leaf hashes of its events in ascending order
   * (docs/integrity.md). Batches without it (written before) are outside the Merkle tree.
   */
  leavesHash?: string
  /** prune: what the pruned batches leave in the Merkle tree, the subtrees covering their leaves. */
  subtrees?: PrunedSubtree[]
  events: number
  /** Earliest request and latest stage time in the batch (RFC 3339, µs); prune: the newest time of the events it removed. */
  firstAt?: string
  lastAt?: string
  /** SHA-256 of the segment file's bytes. */
  contentHash: string
  prevHash: string
  /** SHA-256 over every other field (v2; v1: seq, kind, events, contentHash, prevHash and replaces): what the next link points to. */
  hash: string
  committedAt: string
}

/** One subtree of a pruned batch's leaves: [start, start + size) of the tree, its hash (hex). */
export interface PrunedSubtree {
  seq: number
  start: number
  size: number
  hash: string
}

/** A stored event, by the leaf hash recomputed from it. */
export interface EventLeaf {
  leaf: Buffer
  auditId: string
  stage: string
}

export interface CodeRange {
  min: number
  max: number
}

export interface ResourceFilter {
  apiGroup?: string
  resource: string
  subresource?: string
}

/** Filters are ANDed; a list means "any of". */
export interface EventQuery {
  clusters?: string[]
  users?: string[]
  groups?: string[]
  verbs?: string[]
  resources?: ResourceFilter[]
  /** API group of the object ("" = core), when no resource is given. */
  apiGroup?: string
  namespace?: string
  name?: string
  codes?: CodeRange[]
  stages?: Stage[]
  levels?: Level[]
  /** Inclusive lower / exclusive upper bound on requestReceivedTimestamp. */
  since?: Date
  until?: Date
  /** User names starting with this (e.g. `system:serviceaccount:`). */
  userPrefix?: string
  /** At least one of these must hold too (each is a query of its own, without order/limit). */
  anyOf?: EventQuery[]
  /** Some source IP is external: not private, loopback, link-local, CGNAT or unspecified (`isExternalIP`). */
  sourceExternal?: boolean
  /** The request body is a pod or workload that is privileged, uses host namespaces or hostPath (`privilegedReasons`). */
  privilegedPod?: boolean
  /** A failed authentication: a 401, or a TokenReview that did not authenticate its token. */
  authFailed?: boolean
  /** The stored event's JSON text contains one of these strings (a cheap pass before parsing). */
  eventContainsAny?: string[]
  /** Free-text match on the request URI (substring). */
  uriContains?: string
  /**
   * One event per request: of each request's matching events (same cluster, auditID and request
   * time), only the one of its latest stage (ResponseComplete or Panic, else ResponseStarted, else
   * RequestReceived), which carries the response code. `query` and `count` count requests then.
   */
  perRequest?: boolean
  order?: 'newest' | 'oldest'
  limit?: number
  /** Skip this many matching events first (with limit: pages). */
  offset?: number
}

export interface StoredEvent {
  cluster: string
  event: AuditEvent
  /** The event's JSON exactly as it was recorded. */
  raw: string
}

export interface VerifyProblem {
  seq: number
  problem: string
}

export interface VerifyReport {
  ok: boolean
  links: number
  events: number
  problems: VerifyProblem[]
  head: string | undefined
  headSeq?: number | undefined
}

/** The last link of the chain: recorded outside the store, it detects a cut-off or rewritten tail. */
export interface ChainHead {
  seq: number
  hash: string
}

export interface VerifyOptions {
  /** A chain head recorded earlier (its link number when known): the chain must still hold it. */
  expectHead?: { hash: string; seq?: number }
}

export interface PruneReport {
  prunedBatches: number
  prunedEvents: number
}

export interface StoreStats {
  events: number
  /** The earliest request and the latest stage time stored (RFC 3339); absent when empty. */
  firstAt?: string
  lastAt?: string
  batches: number
  bytes: number
  clusters: string[]
}

/** What `kubetrail store status` shows. */
export interface StoreStatus {
  backend: 'duckdb' | 'clickhouse'
  /** The store as the user names it (never a password). */
  location: string
  /** The schema version its migrations reached (a server store); the embedded store's layout has none. */
  schemaVersion?: number
  serverVersion?: string
  events: number
  /** Committed batches (chain links that hold events). */
  batches: number
  /** Bytes on disk. */
  bytes: number
  /** Bytes of the stored events' JSON: what the compression ratio is measured against. */
  rawBytes: number
  /** Storage units: segment files (embedded), active parts (ClickHouse). */
  parts: number
  clusters: Array<{ cluster: string; events: number }>
}

/** Options of `openStore`. `write` means something to every store; the rest are hints an in-process engine uses and a server store ignores. */
export interface OpenOptions {
  /** Open for writing (the embedded store: creates the directory and takes the writer lock). */
  write?: boolean
  /**
   * Rows per storage block (the embedded store's Parquet row groups, default 2048, DuckDB's
   * smallest): fetching one event decompresses its group. On 591k events, `who` took 50–60 ms at
   * 2048 against 72–95 ms at 4000; the store grows 1.6 % (measured).
   */
  rowGroupSize?: number
  /** Engine threads (default 2); a collector leaves a core to its receivers. */
  threads?: number
  /** The engine's memory limit (default 160MB for a writer, 1GB for a reader). */
  memoryLimit?: string
  /**
   * zstd level of new batches (default 6, the level compaction always writes). A collector
   * commits small batches that compaction rewrites anyway: at 3 its sealer stores ~12 % more
   * events per second on one thread (measured: 15.4–17.3k against 13.7–15.5k/s).
   */
  batchCompressionLevel?: number
  /** Names this writer's chain in a store many processes write at once (ClickHouse); default: host name and process id. */
  writerId?: string
}

/**
 * One group of requests as the authorizer saw them: who (and as whom), what, the authorization
 * decision, how many requests, first and last time. Counted from the ResponseComplete and Panic
 * events (one per request). `kubetrail rbac` joins these with the grants.
 */
export interface AccessRow {
  cluster: string
  user: string
  groups: string[]
  /** The impersonated user ('' when the request was not impersonated). */
  impersonatedUser: string
  impersonatedGroups: string[]
  verb: string
  apiGroup: string
  resource: string
  subresource: string
  namespace: string
  /** objectRef.name ('' with `names: false`). */
  name: string
  /** A request without objectRef (a non-resource URL): its path without the query string; else ''. */
  path: string
  /** The response code (0 when none was recorded). */
  code: number
  /** The `authorization.k8s.io/decision` and `/reason` annotations ('' when absent). */
  decision: string
  reason: string
  requests: number
  /** Earliest and latest requestReceivedTimestamp (RFC 3339, µs). */
  firstAt: string
  lastAt: string
}

export interface AccessOptions {
  /** Keep object names apart (default true); false folds them, for far fewer rows. */
  names?: boolean
}

export const TOP_FIELDS = ['user', 'verb', 'resource', 'endpoint', 'source-ip', 'code', 'user-agent', 'namespace', 'cluster'] as const
export type TopField = (typeof TOP_FIELDS)[number]

export interface AuditStore {
  /** Validates, de-duplicates and commits one batch as one chain link. Writers only. */
  append(events: readonly RawEvent[], cluster: string): Promise<AppendResult>
  /**
   * Commits a file of `<cluster>\t<store line>` lines (the collector's write-ahead log; older
   * files hold `<cluster>\t<event JSON>`), one batch per cluster, read by the store itself; a last
   * line without its newline is not read.
   * Optional: without it the collector reads the file and calls `append`.
   */
  appendClusterLines?(path: string): Promise<ClusterResults>
  /**
   * Merges runs of small committed batches into larger segments (writers only); returns how many
   * segments went away. Checks what it merges against the chain first: StoreTamperedError
   * (KT_STORE_TAMPERED), and nothing merged, when a batch is not what was committed.
   */
  compact(options?: CompactOptions): Promise<number>
  query(q: EventQuery): AsyncIterable<StoredEvent>
  count(q: EventQuery): Promise<number>
  /** The most frequent values of a field among the matching events. */
  top(field: TopField, q: EventQuery, limit: number): Promise<Array<{ value: string; count: number }>>
  /**
   * Requests grouped for authorization questions (AccessRow), among the events matching `q`.
   * Optional: without it, `summarizeAccess` (src/store/access.ts) computes the same rows from `query`.
   */
  access?(q: EventQuery, options?: AccessOptions): Promise<AccessRow[]>
  /** Exactly one read-only query over the `events` view (docs/store.md); anything else is refused with KT_SQL_NOT_READ_ONLY (`SqlNotReadOnlyError`). */
  sql(statement: string): Promise<{ columns: string[]; rows: unknown[][] }>
  verify(options?: VerifyOptions): Promise<VerifyReport>
  /** The chain's last link, undefined for an empty store. */
  head(): Promise<ChainHead | undefined>
  /** Removes whole batches whose events are all older than the cutoff, as decided from the events themselves (never from a link's times). */
  prune(olderThan: Date): Promise<PruneReport>
  stats(): Promise<StoreStats>
  /** Size, parts, compression and rows per cluster (`kubetrail store status`). */
  status(): Promise<StoreStatus>
  /** Every stored event once, streamed in batches in no particular order (`kubetrail store copy`). */
  scan(): AsyncIterable<StoredEvent[]>
  close(): Promise<void>
}

/**
 * What the Merkle tree and signed checkpoints (src/integrity, docs/integrity.md) need of a
 * store. A store that has them says so by implementing this too (`hasMerkleTree`); the tree
 * logic itself is backend-neutral (src/store/merkle.ts).
 */
export interface MerkleStore {
  /** The chain's links in order (src/store/chain.ts): what the integrity checks read. */
  links(): Promise<readonly ChainLink[]>
  /**
   * The Merkle tree's leaves (src/store/merkle.ts), one group per batch with `leavesHash`, in
   * chain order: its stored leaf hashes, or for a pruned batch the subtrees its prune link keeps.
   */
  merkleGroups(): Promise<LeafGroup[]>
  /** The leaf hashes of the events a live batch or compaction holds now, recomputed from them (any order). */
  recomputeLeaves(link: ChainLink): Promise<EventLeaf[]>
  /** The stored events with this auditID (every stage, every cluster). */
  findEvents(auditId: string): Promise<Array<{ cluster: string; raw: string }>>
  /** Keeps a signed checkpoint (docs/integrity.md) with the store, for `verify` and `checkpoint export`. */
  saveCheckpoint(text: string, treeSize: number): Promise<void>
  /** The checkpoints kept with the store, oldest first. */
  savedCheckpoints(): Promise<string[]>
}

export function hasMerkleTree<S extends AuditStore>(store: S): store is S & MerkleStore {
  const s = store as Partial<MerkleStore>
  return typeof s.merkleGroups === 'function' && typeof s.recomputeLeaves === 'function' && typeof s.saveCheckpoint === 'function'
}

export interface CompactOptions {
  /** Segments with fewer events are merged (default 50,000). */
  smallerThan?: number
  /** A merged segment holds at most this many events (default 200,000). */
  targetEvents?: number
  /** Asked between merges, when more remain: true ends the compaction there (a collector with WAL files waiting). */
  yieldNow?: () => boolean
}

/** What a file of several clusters' events stored: one batch (and result) per cluster. */
export type ClusterResults = Array<{ cluster: string; result: AppendResult }>
