/**
 * @module `kubetrail import FILE...|DIR|-`: audit logs into the store, each event once.
 */
import { statSync } from 'node:fs'
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS, type CommandContext } from '../command.js'
import { UsageError } from '../../core/errors.js'
import { expandInputs } from '../log-files.js'
import { checkClusterFlag } from '../../core/cluster.js'
import { formatMalformed, readRawEvents, Redactor, redactionKey, rotationOrder, sanitizeText, type MalformedLine, type RawEvent } from '../../ingest/index.js'
export { rotationOrder }
import { compactOpenStore, compactText, type CompactReport } from './store.js'
import { formatHead, hasMerkleTree, localDir as localDirOf, openStore, resolveStore, type ChainHead, type StoreFlags } from '../../store/index.js'
import { CHECKPOINT_OPTIONS, checkpointSetup, type CheckpointFlags } from '../checkpoint-options.js'

interface ImportOptions extends StoreFlags, CheckpointFlags {
  cluster: string
  batchSize: string
  redact: boolean
  compact?: boolean
}

/**
 * zstd level of the batches import writes: they are queryable at once and re-encoded by
 * compaction (`--compact`, `kubetrail store compact`, serve), which writes the store's level.
 */
const IMPORT_COMPRESSION_LEVEL = 1

/** -o json: what was read, stored, skipped and redacted. */
const IMPORT_SCHEMA = Type.Object(
  {
    files: Type.Integer({ minimum: 0 }),
    read: Type.Integer({ minimum: 0 }),
    stored: Type.Integer({ minimum: 0 }),
    duplicates: Type.Integer({ minimum: 0 }),
    malformed: Type.Integer({ minimum: 0 }),
    firstMalformed: Type.Array(Type.Object({ file: Type.String(), line: Type.Integer(), reason: Type.String() }, { additionalProperties: false })),
    redactedValues: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'secret values redacted in the events stored; null with --no-redact' }),
    seconds: Type.Number(),
    cluster: Type.String(),
    head: Type.Union([Type.Object({ hash: Type.String(), seq: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }), Type.Null()], {
      description: 'the chain head after the import: keep it outside the data directory for `verify --expect-head`',
    }),
    checkpoint: Type.Optional(
      Type.Union(
        [
          Type.Object(
            {
              size: Type.Integer({ minimum: 0, description: 'events in the Merkle tree' }),
              text: Type.String({ description: 'the signed checkpoint (docs/integrity.md)' }),
              key: Type.String({ description: 'the signing key file' }),
              failedAnchors: Type.Array(Type.Object({ anchor: Type.String(), error: Type.String() }, { additionalProperties: false })),
            },
            { additionalProperties: false },
          ),
          Type.Null(),
        ],
        { description: 'the signed checkpoint written at the end (null: none, with --no-checkpoint or nothing new)' },
      ),
    ),
    compaction: Type.Optional(
      Type.Object(
        {
          mergedAway: Type.Integer({ minimum: 0 }),
          partsBefore: Type.Integer({ minimum: 0 }),
          partsAfter: Type.Integer({ minimum: 0 }),
          bytesBefore: Type.Integer({ minimum: 0 }),
          bytesAfter: Type.Integer({ minimum: 0 }),
          rawBytes: Type.Integer({ minimum: 0 }),
          seconds: Type.Number(),
        },
        { additionalProperties: false, description: 'with --compact: the compaction after the import' },
      ),
    ),
  },
  { additionalProperties: false },
)


/** A progress line: percentage and ETA when the total is known (plain files), else bytes and rate. */
function progressReporter(ctx: CommandContext, totalBytes: number | undefined): (events: number, files: number, bytes: number) => void {
  const started = Date.now()
  let last = 0
  return (events, files, bytes) => {
    if (!ctx.progress) return
    const now = Date.now()
    if (now - last < 250) return
    last = now
    const secs = (now - started) / 1000
    const rate = events / Math.max(secs, 0.001)
    const mbps = (bytes / 1e6 / Math.max(secs, 0.001)).toFixed(1)
    const head = totalBytes
      ? `${Math.min(99.9, (bytes / totalBytes) * 100).toFixed(1)}% ${(bytes / 1e6).toFixed(0)}/${(totalBytes / 1e6).toFixed(0)} MB`
      : `${(bytes / 1e6).toFixed(0)} MB`
    const eta = totalBytes && bytes > 0 ? `, ETA ${Math.max(0, (totalBytes - bytes) / (bytes / secs)).toFixed(0)} s` : ''
    ctx.progress(`importing: ${head}, ${mbps} MB/s, ${events.toLocaleString('en-US')} events, ${Math.round(rate).toLocaleString('en-US')} events/s${eta}, file ${files}`)
  }
}

export default defineCommand<ImportOptions>({
  path: ['import'],
  summary: 'import audit logs (NDJSON, gzip, EventList, legacy; files, directories, globs, stdin) into the store',
  description:
    'Rotated files (audit-<timestamp>.log[.gz]) are imported oldest first, the live audit.log last. Every event is\n' +
    'stored once: re-importing a file, or overlapping rotated files, adds nothing. Each batch is committed to a\n' +
    'SHA-256 chain (`kubetrail verify`). Malformed lines are reported and skipped. Batches are written fast, at a\n' +
    'light compression level, and are queryable at once; compaction (--compact, `kubetrail store compact`, or a\n' +
    'running serve) re-sorts and re-encodes them to about a third of that size.',
  args: [{ name: '<file...>', description: 'audit logs, directories of them, quoted globs, or - for stdin' }],
  options: [
    { flags: '--cluster <name>', description: 'cluster these events come from', default: 'default' },
    ...STORE_OPTIONS,
    { flags: '--batch-size <n>', description: 'events per committed batch (memory grows with it)', default: '20000' },
    { flags: '--no-redact', description: 'store Secret values, tokens and credentials as they are in the log (redacted by default)' },
    { flags: '--compact', description: 'compact the store once imported (as `kubetrail store compact`): smaller, same answers' },
    ...CHECKPOINT_OPTIONS,
  ],
  output: { schema: IMPORT_SCHEMA },
  examples: ['kubetrail import /var/log/kubernetes/audit/', "kubetrail import 'audit-*.log.gz' audit.log --cluster prod-eu", 'zcat audit.log.gz | kubetrail import -'],
  async handler(args, opts, ctx) {
    const batchSize = Number(opts.batchSize)
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size must be a positive integer, not "${opts.batchSize}"`)
    checkClusterFlag(opts.cluster)
    const files = expandInputs(args, ctx.cwd)
    // the total is only known for plain files (stdin and gzip sizes are not what is read)
    const plain = files.every((f) => f !== '-' && !f.endsWith('.gz'))
    const totalBytes = plain ? files.reduce((n, f) => n + statSync(f).size, 0) : undefined
    const location = resolveStore(opts, ctx.cwd)
    const signing = await checkpointSetup(opts, ctx.cwd)
    const store = await openStore(location, { write: true, batchCompressionLevel: IMPORT_COMPRESSION_LEVEL })
    // the same key as the collector's: a value redacted by either gives the same marker
    const redactor = opts.redact === false ? undefined : new Redactor(redactionKey(localDirOf(location, opts, ctx.cwd)))
    let redactedValues = 0
    // only the first few malformed lines are kept (memory stays flat for any input)
    const firstMalformed: MalformedLine[] = []
    let malformedCount = 0
    const onMalformed = (m: MalformedLine) => {
      malformedCount++
      if (firstMalformed.length < 3) firstMalformed.push(m)
    }
    let read = 0
    let stored = 0
    let duplicates = 0
    let doneBytes = 0
    const progress = progressReporter(ctx, totalBytes)
    const started = Date.now()
    let head: ChainHead | undefined
    let noTree = false
    let checkpoint: { text: string; size: number; failed: Array<{ anchor: string; error: string }> } | null = null
    let compaction: CompactReport | undefined
    let pending: RawEvent[] = []
    // values redacted per pending event: only those of the events actually stored are reported
    let pendingRedacted: number[] = []
    const flush = async () => {
      const r = await store.append(pending, opts.cluster)
      stored += r.stored
      duplicates += r.duplicates
      r.malformed.forEach(onMalformed)
      if (r.storedIndexes) for (const i of r.storedIndexes) redactedValues += pendingRedacted[i] ?? 0
      else if (r.stored === pending.length) redactedValues += pendingRedacted.reduce((a, b) => a + b, 0)
      pending = []
      pendingRedacted = []
    }
    try {
      for (const [i, file] of files.entries()) {
        for await (const batch of readRawEvents(file, { stdin: ctx.stdin, onMalformed })) {
          read += batch.length
          for (const e of batch) {
            doneBytes += e.json.length + 1
            const r = redactor?.redactText(e.json)
            pendingRedacted.push(r?.values ?? 0)
            // as the collector does: a lone surrogate (an API user's patch may hold one) becomes U+FFFD, annotated
            const json = sanitizeText(r && r.values > 0 ? r.text : e.json)
            pending.push(json === e.json ? e : { ...e, json })
          }
          if (pending.length >= batchSize) await flush()
          progress(read, i + 1, doneBytes)
        }
      }
      await flush()
      if (opts.compact) compaction = await compactOpenStore(store, ctx.progress)
      head = await store.head()
      if (signing && !hasMerkleTree(store)) noTree = true
      else if (signing) {
        const { writeCheckpoint } = await import('../../integrity/index.js')
        checkpoint = (await writeCheckpoint(store, signing.signer, { cluster: opts.cluster, anchors: signing.anchors })) ?? null
      }
    } finally {
      await store.close()
    }
    const secs = (Date.now() - started) / 1000
    const shown = firstMalformed.map(formatMalformed)
    const data = {
      files: files.length,
      read,
      stored,
      duplicates,
      malformed: malformedCount,
      firstMalformed: firstMalformed.map((m) => ({ file: m.file, line: m.line, reason: m.reason })),
      redactedValues: redactor ? redactedValues : null,
      seconds: Math.round(secs * 1000) / 1000,
      cluster: opts.cluster,
      head: head ? { hash: head.hash, seq: head.seq } : null,
      checkpoint: checkpoint && signing ? { size: checkpoint.size, text: checkpoint.text, key: signing.keyPath, failedAnchors: checkpoint.failed } : null,
      ...(compaction
        ? { compaction: { mergedAway: compaction.mergedAway, partsBefore: compaction.partsBefore, partsAfter: compaction.partsAfter, bytesBefore: compaction.bytesBefore, bytesAfter: compaction.bytesAfter, rawBytes: compaction.rawBytes, seconds: compaction.seconds } }
        : {}),
    }
    const summary =
      `imported ${files.length} file(s): ${read.toLocaleString('en-US')} events read, ${stored.toLocaleString('en-US')} stored, ` +
      `${duplicates.toLocaleString('en-US')} duplicates skipped, ${malformedCount} malformed` +
      (shown.length > 0 ? ` (${shown.join('; ')}${malformedCount > shown.length ? '; …' : ''})` : '') +
      (redactor ? `, ${redactedValues.toLocaleString('en-US')} secret values redacted in the events stored` : ', secret values NOT redacted (--no-redact)') +
      ` in ${secs.toFixed(1)} s (${Math.round(read / Math.max(secs, 0.001)).toLocaleString('en-US')} events/s)`
    // kept outside the data directory, the head lets `verify --expect-head` catch a cut-off tail
    const headLine = head ? `chain head: ${formatHead(head)}\n` : ''
    const compacted = compaction ? `compacted: ${compactText(compaction)}` : ''
    const { checkpointLogLine } = await import('../../integrity/index.js')
    // the checkpoint as one line: whatever keeps this output (a CI log, a terminal's scrollback) anchors it too
    const checkpointLines =
      checkpoint && signing
        ? `signed checkpoint of ${checkpoint.size.toLocaleString('en-US')} events (key ${signing.keyPath}${signing.created ? ', new' : ''}${signing.anchors.length > 0 ? `; sent to ${signing.anchors.length - checkpoint.failed.length} of ${signing.anchors.length} anchors` : ''}):\n${checkpointLogLine(checkpoint.text)}\n`
        : ''
    const warnings = checkpoint?.failed.map((f) => `checkpoint not written to ${f.anchor}: ${f.error}`) ?? []
    if (noTree) warnings.push('this store keeps no Merkle tree yet: no signed checkpoint written (docs/integrity.md)')
    return { report: { data, text: () => summary + '\n' + compacted + checkpointLines + headLine }, warnings, exitCode: malformedCount > 0 || (checkpoint?.failed.length ?? 0) > 0 ? 1 : 0 }
  },
})
