/**
 * @module The collector's core, independent of HTTP and files: events in (from the webhook or a
 * followed log), through the pipeline, into the WAL (the acknowledgement point), and from the
 * WAL into the store by a background sealer that also compacts small segments.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { KubetrailError } from '../core/errors.js'
import { formatHead, type AppendResult, type ChainHead } from '../store/index.js'
import type { PolicyEvaluator } from '../policy/index.js'
import type { AuditEvent } from '../model/index.js'
import type { Alert, Detector } from '../detect/engine.js'
import { alertId, type AlertDispatcher } from '../detect/sinks.js'
import { createMetrics, type CollectorMetrics, type Source } from './metrics.js'
import { decodeBody, processEvents, type DecodedItems, type PipelineResult } from './pipeline.js'
import { Redactor, redactionKey } from '../ingest/index.js'
import { WriteAheadLog } from './wal.js'
import { SEAL_CHUNK_BYTES, startSealer, type CompactResult, type Sealer } from './sealer.js'

export interface CollectorOptions {
  dataDir: string
  /** The kubetrail-side audit policy. */
  policy?: PolicyEvaluator
  /** Secret redaction (default on). */
  redact?: boolean
  /** A WAL file is committed to the store after this long, or at `sealEvents` events. */
  sealIntervalMs?: number
  sealEvents?: number
  /** Above this many acknowledged-but-unstored bytes, new events are refused with a retry-able reply. */
  maxPendingBytes?: number
  /** How often small segments are merged. */
  compactIntervalMs?: number
  /** Messages for the operator (one line each). */
  log?: (line: string) => void
  /** Fault injection for tests: called before every store commit. */
  beforeStoreCommit?: () => void
  /**
   * Commit WAL files to the store in a thread of its own (when built): under sustained load
   * 12.0–17.8k events/s reach the store against 9.9–12.7k, for ~15–35 MB more memory (measured).
   */
  sealInThread?: boolean
  /** Live detection on every accepted event (as it is accepted); alerts go to `<data-dir>/alerts.ndjson` and the sinks. */
  detector?: Detector
  alerts?: AlertDispatcher
}

/** Retry-able: the client should send the same events again later. */
export class CollectorBusyError extends KubetrailError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    readonly status: 429 | 503,
  ) {
    super('KT_COLLECTOR_BUSY', message, { hint: 'The sender should retry (the apiserver does); kubetrail recovers by itself when the cause goes away.' })
  }
}

export interface IngestOutcome extends Omit<PipelineResult, 'accepted' | 'newestStageTime' | 'events'> {
  accepted: number
}

export class Collector {
  readonly metrics: CollectorMetrics
  private sealTimer: NodeJS.Timeout | undefined
  private sealing: Promise<void> | undefined
  private stopped = false
  private storeError: string | undefined
  private storeRetryAt = 0
  private storeBackoffMs = 500
  private lastCompact = Date.now()
  private readonly redactor: Redactor | undefined

  private constructor(
    private readonly options: CollectorOptions,
    private readonly sealer: Sealer,
    private readonly wal: WriteAheadLog,
  ) {
    this.metrics = createMetrics()
    this.redactor = options.redact === false ? undefined : new Redactor(redactionKey(options.dataDir))
  }

  static async start(options: CollectorOptions): Promise<Collector> {
    const walDir = join(options.dataDir, 'wal')
    // one DuckDB thread: the other core parses and acknowledges incoming batches
    // commits are at most SEAL_CHUNK_BYTES of events, which DuckDB stores within this limit
    // its small batches are compacted later (at the store's level): sealing them cheaper keeps up with more
    const sealer = await startSealer(
      { dataDir: options.dataDir, walDir, store: { write: true, threads: 1, memoryLimit: '96MB', batchCompressionLevel: 3 } },
      { worker: options.sealInThread ? undefined : false },
    )
    let wal: WriteAheadLog
    // the WAL tells the collector (made below, with it) when a file closed full
    const late: { collector?: Collector } = {}
    try {
      // the sealer reads and commits one file at a time: a file's size bounds its memory
      wal = await WriteAheadLog.open(walDir, { maxBytes: SEAL_CHUNK_BYTES, maxEvents: options.sealEvents ?? 5_000, onFull: () => late.collector?.kickSeal() })
    } catch (error) {
      await sealer.close()
      throw error
    }
    const c = new Collector(options, sealer, wal)
    late.collector = c
    const left = wal.pendingFiles()
    if (left.length > 0) c.log(`recovering ${left.length} WAL file(s) (${wal.unsealedBytes} bytes) left by the previous run`)
    await c.sealPending()
    const head = await sealer.head()
    if (head) c.recordHead(head, 'at start')
    c.metrics.up.set(1)
    c.scheduleSeal()
    return c
  }

  private log(line: string): void {
    this.options.log?.(line)
  }

  get ready(): boolean {
    return !this.stopped && this.storeError === undefined && this.failingFollowers.size === 0
  }

  get lastStoreError(): string | undefined {
    return this.storeError
  }

  /** Why /readyz says not ready (undefined when ready). */
  get notReadyReason(): string | undefined {
    if (this.stopped) return 'shutting down'
    const reasons = [...(this.storeError ? [`store: ${this.storeError}`] : []), ...[...this.failingFollowers].map(([path, why]) => `following ${path}: ${why}`)]
    return reasons.length > 0 ? reasons.join('; ') : undefined
  }

  private readonly failingFollowers = new Map<string, string>()

  /** A follower reports that its polls keep failing (a reason), or that they work again (undefined). */
  followerFailing(path: string, reason: string | undefined): void {
    if (reason === undefined) this.failingFollowers.delete(path)
    else this.failingFollowers.set(path, reason)
    this.metrics.followerFailing.set({ path }, reason === undefined ? 0 : 1)
  }

  /**
   * Why events would be refused right now (shutting down, or too much waiting for the store), or
   * undefined. The server asks before it reads a body: a refused request costs no parse.
   */
  refusal(): CollectorBusyError | undefined {
    if (this.stopped) return new CollectorBusyError('the collector is shutting down', 5, 503)
    const pending = this.wal.unsealedBytes
    const limit = this.options.maxPendingBytes ?? 512 * 1024 * 1024
    if (pending <= limit) return undefined
    return new CollectorBusyError(`${pending} bytes are waiting for the store (limit ${limit})${this.storeError ? `: ${this.storeError}` : ''}`, 5, this.storeError ? 503 : 429)
  }

  /** A request body (EventList, Event or NDJSON): throws BodyInvalidError when nothing in it is usable, TooManyItemsError beyond `maxItems` events. */
  ingestBody(cluster: string, body: string, maxItems?: number): Promise<IngestOutcome> {
    return this.ingest(cluster, 'webhook', decodeBody(body, maxItems))
  }

  /**
   * Resolves once the accepted events are durable (then, and only then, may the sender be told
   * so); throws CollectorBusyError when they could not be made durable.
   */
  async ingest(cluster: string, source: Source, items: DecodedItems): Promise<IngestOutcome> {
    const refusal = this.refusal()
    if (refusal) throw refusal
    const started = performance.now()
    this.metrics.received.inc({ cluster, source }, items.length)
    // Detection runs on each event as it is accepted, before the wait for durability, so parsed
    // events die young: kept across the WAL write (and a deferred detection), they outlived V8's
    // young-generation collections, were copied into the old generation and brought on its
    // collections. An alert may so come from an event whose write then fails; the sender
    // retries it, and the detector does not count an event twice.
    const detector = this.options.detector
    const alerts: Alert[] = []
    // a rule failing on one event (a library's limit on a strange body) costs that event its alerts, never its storing
    const onEvent = detector
      ? (e: AuditEvent) => {
          try {
            alerts.push(...detector.evaluate(e, cluster))
          } catch (error) {
            this.metrics.detectionErrors.inc()
            this.log(`detection failed on event ${e.auditID} (stored, no alerts from it): ${(error as Error).message}`)
          }
        }
      : undefined
    const result = processEvents(items, { policy: this.options.policy, redactor: this.redactor, onEvent })
    if (alerts.length > 0) this.raise(alerts)
    try {
      await this.wal.append(cluster, result.accepted)
    } catch (error) {
      this.metrics.storeErrors.inc({ stage: 'wal' })
      this.log(`WAL write failed: ${(error as Error).message}`)
      throw new CollectorBusyError(`could not make the events durable: ${(error as Error).message}`, 10, 503)
    }
    this.metrics.commitSeconds.observe((performance.now() - started) / 1000)
    if (result.rejectedCount > 0) this.metrics.rejected.inc({ cluster, source }, result.rejectedCount)
    if (result.safeForm > 0) this.metrics.bodiesOmitted.inc({ cluster, source }, result.safeForm)
    if (result.dropped > 0) this.metrics.dropped.inc({ cluster, source, reason: 'policy' }, result.dropped)
    if (result.redactedValues > 0) this.metrics.redacted.inc({ cluster }, result.redactedValues)
    if (result.newestStageTime) {
      const seconds = Date.parse(result.newestStageTime) / 1000
      if (seconds > (this.newest.get(cluster) ?? 0)) {
        this.newest.set(cluster, seconds)
        this.metrics.newestEvent.set({ cluster }, seconds)
      }
    }
    return { accepted: result.accepted.length, rejected: result.rejected, rejectedCount: result.rejectedCount, safeForm: result.safeForm, dropped: result.dropped, redactedValues: result.redactedValues }
  }

  private readonly newest = new Map<string, number>()

  /** Alerts are appended to alerts.ndjson and handed to the sinks (never waited for). */
  private raise(alerts: readonly Alert[]): void {
    for (const a of alerts) this.metrics.alerts.inc({ rule: a.rule, severity: a.severity })
    try {
      appendFileSync(join(this.options.dataDir, 'alerts.ndjson'), alerts.map((a) => JSON.stringify({ id: alertId(a), ...a })).join('\n') + '\n', { mode: 0o600 })
    } catch (error) {
      this.log(`could not record ${alerts.length} alert(s): ${(error as Error).message}`)
    }
    this.options.alerts?.push(alerts)
  }

  private scheduleSeal(): void {
    if (this.stopped) return
    this.sealTimer = setTimeout(() => this.kickSeal(), 250)
  }

  private kickSeal(): void {
    if (this.sealing || this.stopped) return
    clearTimeout(this.sealTimer)
    this.sealing = this.sealRound()
      .catch((error: unknown) => this.log(`sealer: ${(error as Error).message}`))
      .finally(() => {
        this.sealing = undefined
        this.scheduleSeal()
      })
  }

  private async sealRound(): Promise<void> {
    const active = this.wal.active
    if (active.ageMs >= (this.options.sealIntervalMs ?? 2000)) await this.wal.rotate()
    if (Date.now() < this.storeRetryAt) return
    await this.sealPending()
    if (Date.now() - this.lastCompact >= (this.options.compactIntervalMs ?? 60_000) && this.wal.pendingFiles().length === 0) {
      // Merge by merge: when WAL files wait, the sealer goes first, and compaction goes on the next
      // time none waits. Under a sustained overload, queries get slower (more small segments)
      // before senders get 429s.
      const compacted = await this.compactChecked()
      if (!compacted?.yielded) this.lastCompact = Date.now()
      if (compacted && compacted.merged > 0) {
        this.log(`compacted ${compacted.merged + 1} segments into fewer${compacted.yielded ? ' (more to do: the sealer goes first)' : ''}`)
        if (compacted.head) this.recordHead(compacted.head, 'after compaction')
      }
    }
  }

  /**
   * A compaction that found stored data not matching the chain refused to rewrite it: that is
   * tampering, reported at every round (a log line and a counter) until someone acts; the
   * evidence stays as it is.
   */
  private async compactChecked(): Promise<CompactResult | undefined> {
    try {
      return await this.sealer.compact()
    } catch (error) {
      if ((error as KubetrailError).code !== 'KT_STORE_TAMPERED') throw error
      this.metrics.integrityFailures.inc({ operation: 'compaction' })
      this.log(`TAMPERING: ${(error as Error).message} [KT_STORE_TAMPERED]`)
      return undefined
    }
  }

  /**
   * Every commit's chain head goes out of the data directory: into the log and the metrics. A
   * tail cut off the chain later is caught by `kubetrail verify --expect-head` with the last one.
   */
  private recordHead(head: ChainHead, when: string): void {
    this.metrics.chainLinks.set(head.seq)
    this.metrics.chainHeadFingerprint.set(parseInt(head.hash.slice(0, 12), 16))
    this.log(`chain head ${when}: ${formatHead(head)}`)
  }

  private sealLane: Promise<unknown> = Promise.resolve()

  /** Commits closed WAL files to the store, oldest first; a failure keeps the file for later. One at a time. */
  private sealPending(): Promise<void> {
    const run = this.sealLane.then(() => this.sealPendingNow())
    this.sealLane = run.catch(() => undefined)
    return run
  }

  private async sealPendingNow(): Promise<void> {
    this.metrics.walBytes.set(this.wal.unsealedBytes)
    for (const path of this.wal.pendingFiles()) {
      const started = performance.now()
      try {
        this.options.beforeStoreCommit?.()
        await this.sealFile(path)
      } catch (error) {
        this.metrics.storeErrors.inc({ stage: 'store' })
        const message = (error as Error).message.split('\n')[0]!
        if (this.storeError !== message) this.log(`store commit failed (will retry; events stay in the WAL): ${message}`)
        this.storeError = message
        this.storeRetryAt = Date.now() + this.storeBackoffMs
        this.storeBackoffMs = Math.min(this.storeBackoffMs * 2, 30_000)
        return
      }
      if (this.storeError) this.log('store commits work again')
      this.storeError = undefined
      this.storeBackoffMs = 500
      this.wal.remove(path)
      this.metrics.sealSeconds.observe((performance.now() - started) / 1000)
    }
    this.metrics.walBytes.set(this.wal.unsealedBytes)
  }

  /** Commits one closed WAL file through the sealer and counts what it stored. */
  private async sealFile(path: string): Promise<void> {
    const results = await this.sealer.seal(path)
    for (const { cluster, result } of results) this.countStored(cluster, result)
    const last = results.findLast((r) => r.result.link)?.result.link
    if (last) this.recordHead(last, `after storing ${results.reduce((n, r) => n + r.result.stored, 0)} events`)
  }

  private countStored(cluster: string, r: AppendResult): void {
    this.metrics.stored.inc({ cluster }, r.stored)
    this.metrics.deduplicated.inc({ cluster }, r.duplicates)
    if (r.malformed.length > 0) this.metrics.rejected.inc({ cluster, source: 'webhook' }, r.malformed.length)
  }

  /** Waits until everything acknowledged so far is in the store (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.sealing) await this.sealing
    await this.wal.rotate()
    await this.sealPending()
    if (this.storeError) throw new KubetrailError('KT_STORE_WRITE_FAILED', `events remain in the WAL: ${this.storeError}`)
  }

  /** Stops accepting, commits what the WAL holds (when the store allows), and closes. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.options.alerts?.stop()
    this.metrics.up.set(0)
    clearTimeout(this.sealTimer)
    while (this.sealing) await this.sealing
    try {
      await this.wal.rotate()
      await this.sealPending()
    } finally {
      await this.wal.close()
      await this.sealer.close()
    }
  }
}
