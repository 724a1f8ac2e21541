/**
 * @module `kubetrail store init|status|compact|copy`: the store itself — create or migrate its
 * schema, how big it is, re-encoding what was written fast, and moving it between the embedded
 * store and a ClickHouse server.
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { formatBytes, formatCount } from '../format.js'
import { renderTable } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { describeLocation, initStore, openStore, parseStoreUrl, resolveStore, StoreTamperedError, type AuditStore, type StoreFlags, type StoreLocation, type StoreStatus } from '../../store/index.js'

const INIT_SCHEMA = Type.Object(
  { location: Type.String(), from: Type.Integer({ minimum: 0 }), to: Type.Integer({ minimum: 0 }), created: Type.Boolean() },
  { additionalProperties: false },
)

const STATUS_SCHEMA = Type.Object(
  {
    backend: Type.Union([Type.Literal('duckdb'), Type.Literal('clickhouse')]),
    location: Type.String(),
    schemaVersion: Type.Optional(Type.Integer({ minimum: 0 })),
    serverVersion: Type.Optional(Type.String()),
    events: Type.Integer({ minimum: 0 }),
    batches: Type.Integer({ minimum: 0 }),
    bytes: Type.Integer({ minimum: 0 }),
    rawBytes: Type.Integer({ minimum: 0 }),
    parts: Type.Integer({ minimum: 0 }),
    clusters: Type.Array(Type.Object({ cluster: Type.String(), events: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
)

const COMPACT_SCHEMA = Type.Object(
  {
    location: Type.String(),
    mergedAway: Type.Integer({ minimum: 0, description: 'parts that went away, merged into others' }),
    partsBefore: Type.Integer({ minimum: 0 }),
    partsAfter: Type.Integer({ minimum: 0 }),
    bytesBefore: Type.Integer({ minimum: 0 }),
    bytesAfter: Type.Integer({ minimum: 0 }),
    rawBytes: Type.Integer({ minimum: 0, description: "the stored events' JSON: what the sizes compare with" }),
    seconds: Type.Number(),
  },
  { additionalProperties: false },
)

const COPY_SCHEMA = Type.Object(
  {
    from: Type.String(),
    to: Type.String(),
    read: Type.Integer({ minimum: 0 }),
    stored: Type.Integer({ minimum: 0 }),
    duplicates: Type.Integer({ minimum: 0 }),
    sourceHead: Type.Optional(Type.String()),
    destinationHead: Type.Optional(Type.String()),
    destinationEvents: Type.Integer({ minimum: 0 }),
    ok: Type.Boolean(),
  },
  { additionalProperties: false },
)

export const storeInit = defineCommand<StoreFlags>({
  path: ['store', 'init'],
  summary: 'create the store, or migrate its schema to this version (idempotent)',
  description:
    'The embedded store needs no schema: this creates its directory. On ClickHouse it creates the database and tables, or\n' +
    'applies the migrations this version has and the server lacks; with ?cluster=NAME every statement runs ON CLUSTER.',
  args: [],
  options: [...STORE_OPTIONS],
  output: { schema: INIT_SCHEMA },
  examples: ['kubetrail store init --store clickhouse://kubetrail@clickhouse:8123/kubetrail', 'kubetrail store init --store "clickhouse://kubetrail@ch:8123/audit?cluster=audit"'],
  async handler(_args, opts, ctx) {
    const r = await initStore(resolveStore(opts, ctx.cwd))
    const what = r.created ? `created (schema version ${r.to})` : r.from === r.to ? `already at schema version ${r.to}` : `migrated from schema version ${r.from} to ${r.to}`
    return { report: { data: r, text: () => `${r.location}: ${what}\n` } }
  },
})

function statusText(s: StoreStatus): string {
  const ratio = s.bytes > 0 && s.rawBytes > 0 ? `1/${(s.rawBytes / s.bytes).toFixed(1)} of the events' JSON` : '-'
  const head = renderTable(
    ['', ''],
    [
      ['store', s.location],
      ...(s.serverVersion ? [['server', s.serverVersion]] : []),
      ...(s.schemaVersion !== undefined ? [['schema version', String(s.schemaVersion)]] : []),
      ['events', formatCount(s.events)],
      ['batches', formatCount(s.batches)],
      ['parts', formatCount(s.parts)],
      ['size on disk', formatBytes(s.bytes)],
      ['events as JSON', formatBytes(s.rawBytes)],
      ['compression', ratio],
    ],
  )
  const rows = s.clusters.length === 0 ? '' : `\n\n${renderTable(['CLUSTER', { header: 'EVENTS', align: 'right' }], s.clusters.map((c) => [c.cluster, formatCount(c.events)]))}`
  // the first line of the key/value table is its empty header
  return head.split('\n').slice(1).join('\n') + rows + '\n'
}

export const storeStatus = defineCommand<StoreFlags>({
  path: ['store', 'status'],
  summary: 'the store: schema version, size, events per cluster, parts, compression',
  args: [],
  options: [...STORE_OPTIONS],
  output: { schema: STATUS_SCHEMA },
  examples: ['kubetrail store status', 'kubetrail store status --store clickhouse://kubetrail@clickhouse/kubetrail -o json'],
  async handler(_args, opts, ctx) {
    const store = await openStore(resolveStore(opts, ctx.cwd))
    try {
      const s = await store.status()
      return { report: { data: s, text: () => statusText(s) } }
    } finally {
      await store.close()
    }
  },
})

export interface CompactReport {
  location: string
  mergedAway: number
  partsBefore: number
  partsAfter: number
  bytesBefore: number
  bytesAfter: number
  rawBytes: number
  seconds: number
}

/**
 * Compacts an open writer: small batches (as import and the collector write them, at a light
 * compression level) merged, sorted and re-encoded at the store's level. Each merge is one chain
 * link that replaces the batches it read, so a crash at any point leaves either the batches or
 * the merge, never both or neither; queries read whichever is committed.
 */
export async function compactOpenStore(store: AuditStore, progress?: (line: string) => void): Promise<CompactReport> {
  const started = Date.now()
  const before = await store.status()
  progress?.(`compacting ${formatCount(before.parts)} parts (${formatBytes(before.bytes)}) ...`)
  const mergedAway = await store.compact()
  const after = await store.status()
  return {
    location: before.location,
    mergedAway,
    partsBefore: before.parts,
    partsAfter: after.parts,
    bytesBefore: before.bytes,
    bytesAfter: after.bytes,
    rawBytes: after.rawBytes,
    seconds: Math.round(Date.now() - started) / 1000,
  }
}

export function compactText(r: CompactReport): string {
  const ratio = (bytes: number) => (bytes > 0 && r.rawBytes > 0 ? ` (1/${(r.rawBytes / bytes).toFixed(1)} of the events' JSON)` : '')
  return `${r.location}: ${formatCount(r.partsBefore)} parts, ${formatBytes(r.bytesBefore)}${ratio(r.bytesBefore)} -> ${formatCount(r.partsAfter)} parts, ${formatBytes(r.bytesAfter)}${ratio(r.bytesAfter)} in ${r.seconds} s\n`
}

export const storeCompact = defineCommand<StoreFlags>({
  path: ['store', 'compact'],
  summary: 're-sort and re-encode small batches into the compact layout now (serve does it in the background)',
  description:
    'Import and the collector write batches fast, at a light compression level, and they are queryable at once;\n' +
    'compaction merges runs of small batches, sorts them by resource, verb and user, and re-encodes them at the\n' +
    "store's level (zstd 6): far smaller, same answers. Each merge is committed to the chain as replacing the batches\n" +
    'it read: interrupted, it loses and duplicates nothing, and the next run goes on. Needs the writer lock (not while\n' +
    'serve runs: serve compacts by itself).',
  args: [],
  options: [...STORE_OPTIONS],
  output: { schema: COMPACT_SCHEMA },
  examples: ['kubetrail store compact', 'kubetrail import /var/log/kubernetes/audit/ && kubetrail store compact'],
  async handler(_args, opts, ctx) {
    const store = await openStore(resolveStore(opts, ctx.cwd), { write: true })
    try {
      const r = await compactOpenStore(store, ctx.progress)
      return { report: { data: r, text: () => compactText(r) } }
    } finally {
      await store.close()
    }
  },
})

interface CopyOptions {
  from?: string
  to?: string
  clickhousePasswordFile?: string
}

export const storeCopy = defineCommand<CopyOptions>({
  path: ['store', 'copy'],
  summary: 'copy every event from one store to another (embedded ↔ ClickHouse), each once, and verify both chains',
  description:
    'The source chain is verified first (a tampered store is not copied); the events go into the destination in batches\n' +
    'of its own chain, as they were stored (no redaction again); the destination is verified afterwards. Events the\n' +
    'destination already holds are skipped, so an interrupted copy is resumed by running it again.',
  args: [],
  options: [
    { flags: '--from <url>', description: 'the source store: duckdb:DIR or clickhouse://…' },
    { flags: '--to <url>', description: 'the destination store' },
    { flags: '--clickhouse-password-file <file>', description: 'the ClickHouse password, from this file (default: $KUBETRAIL_CLICKHOUSE_PASSWORD)' },
  ],
  output: { schema: COPY_SCHEMA },
  examples: ['kubetrail store copy --from duckdb:./kubetrail-data --to clickhouse://kubetrail@clickhouse/kubetrail', 'kubetrail store copy --from clickhouse://kubetrail@clickhouse/kubetrail --to duckdb:./export'],
  async handler(_args, opts, ctx) {
    if (!opts.from || !opts.to) throw new UsageError('store copy needs --from URL and --to URL')
    const password = { file: opts.clickhousePasswordFile }
    const from = parseStoreUrl(opts.from, ctx.cwd, password)
    const to = parseStoreUrl(opts.to, ctx.cwd, password)
    if (describeLocation(from) === describeLocation(to)) throw new UsageError('--from and --to name the same store')
    const r = await copyStore(from, to, ctx.progress)
    const text = () =>
        `copied ${formatCount(r.read)} events from ${r.from} to ${r.to}: ${formatCount(r.stored)} stored, ${formatCount(r.duplicates)} already there\n` +
        `source chain head ${r.sourceHead ?? '(empty)'}; destination chain ${r.ok ? 'verified' : 'NOT verified'}: ${formatCount(r.destinationEvents)} events, head ${r.destinationHead ?? '(empty)'}\n`
    const data = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined))
    return { report: { data, text }, exitCode: r.ok ? 0 : 1 }
  },
})

interface CopyReport {
  from: string
  to: string
  read: number
  stored: number
  duplicates: number
  sourceHead: string | undefined
  destinationHead: string | undefined
  destinationEvents: number
  ok: boolean
}

/** Events per destination batch: one chain link each. */
const COPY_BATCH = 20_000

async function copyStore(from: StoreLocation, to: StoreLocation, progress?: (line: string) => void): Promise<CopyReport> {
  const source = await openStore(from)
  try {
    const check = await source.verify()
    // a copy rewrites every event into fresh, validly hashed batches: a tampered source is refused as compaction refuses it
    if (!check.ok) throw new StoreTamperedError(`copy of ${describeLocation(from)}`, check.problems)
    const destination = await openStore(to, { write: true })
    let read = 0
    let stored = 0
    let duplicates = 0
    try {
      // per cluster: a batch belongs to one cluster
      const pending = new Map<string, Array<{ json: string; file: string; line: number }>>()
      const flush = async (cluster: string) => {
        const events = pending.get(cluster)
        if (!events || events.length === 0) return
        pending.delete(cluster)
        const r = await destination.append(events, cluster)
        stored += r.stored
        duplicates += r.duplicates
        if (r.malformed.length > 0) throw new UsageError(`the destination refused ${r.malformed.length} stored event(s), e.g. ${r.malformed[0]!.reason}`)
      }
      for await (const batch of source.scan()) {
        for (const e of batch) {
          read++
          let list = pending.get(e.cluster)
          if (!list) pending.set(e.cluster, (list = []))
          list.push({ json: e.raw, file: describeLocation(from), line: read })
          if (list.length >= COPY_BATCH) await flush(e.cluster)
        }
        progress?.(`copying: ${formatCount(read)} events read, ${formatCount(stored)} stored`)
      }
      for (const cluster of [...pending.keys()]) await flush(cluster)
      const after = await destination.verify()
      return { from: describeLocation(from), to: describeLocation(to), read, stored, duplicates, sourceHead: check.head, destinationHead: after.head, destinationEvents: after.events, ok: after.ok }
    } finally {
      await destination.close()
    }
  } finally {
    await source.close()
  }
}
