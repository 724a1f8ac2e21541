/**
 * @module `kubetrail store init|status|copy`: the store itself — create or migrate its schema,
 * how big it is, and moving it between the embedded store and a ClickHouse server.
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { formatBytes, formatCount } from '../format.js'
import { renderTable } from '../output.js'
import { UsageError } from '../../core/errors.js'
import { describeLocation, initStore, openStore, parseStoreUrl, resolveStore, StoreTamperedError, type StoreFlags, type StoreLocation, type StoreStatus } from '../../store/index.js'

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
