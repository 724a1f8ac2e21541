/**
 * @module The sealer: commits closed write-ahead-log files to the store and compacts it, in the
 * collector's thread, or (`serve --seal-thread`) in a worker thread of its own when the compiled
 * worker exists (the built CLI). The same functions run either way.
 *
 * Why a thread: each commit is a dozen DuckDB statements, and each statement's completion waits
 * for the event loop. On the thread that answers the webhook that loop is busy parsing requests,
 * so under load the sealer sat idle half the time (measured: its DuckDB work took 0.5 of a core
 * while 0.6 of the machine's two cores went unused), and the store fell behind. Fewer round
 * trips per commit took most of that back; in a thread of its own the sealer still keeps up with
 * more (12.0–17.8k events/s sustained against 9.9–12.7k, measured). Why not always: a second V8
 * isolate and a busier store cost ~15–35 MB (RSS 297–319 MB against 278–286 MB): at or over the
 * collector's 300 MB budget.
 */
import { existsSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { KubetrailError } from '../core/errors.js'
import { openStore, type AuditStore, type ChainHead, type ClusterResults, type OpenOptions } from '../store/index.js'
import { readWalFileAsync, walFileNames } from './wal.js'

/**
 * Events per store commit, by size: WAL files close at this size and the sealer commits at most
 * this much at once. It bounds the collector's memory: DuckDB needs ~10x the batch's JSON while
 * it sorts and compresses (5k events of ~1.7 kB failed under a 64 MB limit), and the JavaScript
 * side holds the file. Files of 80k events under load took a collector to 700 MB.
 */
export const SEAL_CHUNK_BYTES = 6 * 1024 * 1024

/** Segments merged away, whether the compaction stopped early for waiting WAL files, and the chain head after it. */
export interface CompactResult {
  merged: number
  yielded: boolean
  head?: ChainHead | undefined
}

export interface Sealer {
  /** Commits one closed WAL file (one batch per cluster in it). */
  seal(path: string): Promise<ClusterResults>
  /** Merges small segments, stopping between merges while WAL files wait. */
  compact(): Promise<CompactResult>
  /** The store's chain head. */
  head(): Promise<ChainHead | undefined>
  close(): Promise<void>
}

export interface SealerSpec {
  dataDir: string
  walDir: string
  store: OpenOptions
  /** Events per compacted segment (the store's default, 200k, unless a test wants several merges). */
  compactTargetEvents?: number
}

/** Consecutive runs of events of at most `maxBytes` of JSON (a larger event goes alone). */
export function chunksOfBytes<T extends { json: string }>(events: readonly T[], maxBytes: number): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const e of events) {
    if (current.length > 0 && bytes + e.json.length > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(e)
    bytes += e.json.length
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/**
 * Commits one closed WAL file. The store reads it itself when it can (no event passes through
 * JavaScript); a file it cannot read that way (a line over 8 MB, a bare carriage return, a file
 * from an older version over SEAL_CHUNK_BYTES) is read here and committed in chunks. A crash
 * between commits re-reads the file; the store skips what it already holds.
 */
export async function sealWalFile(store: AuditStore, path: string): Promise<ClusterResults> {
  if (store.appendClusterLines && statSync(path).size <= SEAL_CHUNK_BYTES * 2) {
    try {
      return await store.appendClusterLines(path)
    } catch {
      // read it here instead (a real store failure fails there too, and is reported)
    }
  }
  const out: ClusterResults = []
  for (const [cluster, events] of await readWalFileAsync(path)) {
    for (const chunk of chunksOfBytes(events, SEAL_CHUNK_BYTES)) out.push({ cluster, result: await store.append(chunk, cluster) })
  }
  return out
}

/** Closed WAL files wait for the sealer: every WAL file but the newest (the one being written). */
export function walFilesWaiting(walDir: string): boolean {
  try {
    return walFileNames(walDir).length > 1
  } catch {
    return false
  }
}

/** Runs a sealer operation on `store`: the worker and the in-process sealer share it. */
export async function runSealOp(store: AuditStore, spec: SealerSpec, op: SealOp): Promise<unknown> {
  switch (op.op) {
    case 'seal':
      return sealWalFile(store, op.path)
    case 'compact': {
      let yielded = false
      const merged = await store.compact({ targetEvents: spec.compactTargetEvents, yieldNow: () => (yielded = walFilesWaiting(spec.walDir)) })
      return { merged, yielded, head: merged > 0 ? await store.head() : undefined } satisfies CompactResult
    }
    case 'head':
      return store.head()
    case 'close':
      return store.close()
  }
}

export type SealOp = { op: 'seal'; path: string } | { op: 'compact' } | { op: 'head' } | { op: 'close' }

/** An error as it crosses the thread boundary: a KubetrailError keeps its code and hint. */
export interface SerializedError {
  message: string
  code?: string
  hint?: string
  exitCode?: number
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof KubetrailError) return { message: error.message, code: error.code, hint: error.hint, exitCode: error.exitCode }
  return { message: error instanceof Error ? error.message : String(error) }
}

export function deserializeError(e: SerializedError): Error {
  return e.code ? new KubetrailError(e.code, e.message, { hint: e.hint, exitCode: e.exitCode }) : new Error(e.message)
}

const WORKER = new URL('./seal-worker.js', import.meta.url)

/** The sealer for a collector: `worker` false runs it here; else in a worker thread when it is built (or at that URL). */
export async function startSealer(spec: SealerSpec, options: { worker?: URL | false } = {}): Promise<Sealer> {
  const worker = options.worker ?? (existsSync(fileURLToPath(WORKER)) ? WORKER : false)
  return worker ? WorkerSealer.start(worker, spec) : InProcessSealer.start(spec)
}

class InProcessSealer implements Sealer {
  private constructor(
    private readonly store: AuditStore,
    private readonly spec: SealerSpec,
  ) {}

  static async start(spec: SealerSpec): Promise<Sealer> {
    return new InProcessSealer(await openStore(spec.dataDir, spec.store), spec)
  }

  seal(path: string): Promise<ClusterResults> {
    return runSealOp(this.store, this.spec, { op: 'seal', path }) as Promise<ClusterResults>
  }

  compact(): Promise<CompactResult> {
    return runSealOp(this.store, this.spec, { op: 'compact' }) as Promise<CompactResult>
  }

  head(): Promise<ChainHead | undefined> {
    return this.store.head()
  }

  async close(): Promise<void> {
    await this.store.close()
  }
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError }

class WorkerSealer implements Sealer {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  /** Set when the worker is gone: every later call fails with it (the events stay in the WAL). */
  private gone: Error | undefined

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: Reply) => {
      const call = this.pending.get(reply.id)
      if (!call) return
      this.pending.delete(reply.id)
      if (reply.ok) call.resolve(reply.value)
      else call.reject(deserializeError(reply.error))
    })
    const fail = (error: Error) => {
      this.gone ??= new KubetrailError('KT_STORE_WRITE_FAILED', `the sealer thread stopped: ${error.message}`, {
        hint: 'Acknowledged events stay in the write-ahead log; restart kubetrail serve to commit them.',
      })
      for (const call of this.pending.values()) call.reject(this.gone)
      this.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)))
  }

  static start(url: URL, spec: SealerSpec): Promise<Sealer> {
    // No flags: the main script's (-e, --input-type) would stop the worker from starting, and so
    // would V8's (--max-old-space-size, as the unit and image run serve), which apply to every
    // thread anyway.
    const worker = new Worker(url, { workerData: spec, execArgv: [] })
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => reject(error)
      worker.once('error', failed)
      worker.once('message', (first: { ready: true } | { ready: false; error: SerializedError }) => {
        worker.off('error', failed)
        if (first.ready) resolve(new WorkerSealer(worker))
        else {
          void worker.terminate()
          reject(deserializeError(first.error))
        }
      })
    })
  }

  private call<T>(op: SealOp): Promise<T> {
    if (this.gone) return Promise.reject(this.gone)
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.worker.postMessage({ id, ...op })
    })
  }

  seal(path: string): Promise<ClusterResults> {
    return this.call({ op: 'seal', path })
  }

  compact(): Promise<CompactResult> {
    return this.call({ op: 'compact' })
  }

  head(): Promise<ChainHead | undefined> {
    return this.call({ op: 'head' })
  }

  async close(): Promise<void> {
    try {
      if (!this.gone) await this.call({ op: 'close' })
    } finally {
      await this.worker.terminate()
    }
  }
}
