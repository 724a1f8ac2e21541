/**
 * @module Writing checkpoints: the store's tree, signed, kept with the store and sent to the
 * anchors. `import` writes one at its end; `serve` one at an interval (when the tree grew) and
 * one at shutdown.
 */
import { hasMerkleTree, MerkleTree, type AuditStore } from '../store/index.js'
import { KubetrailError } from '../core/errors.js'
import type { Anchor } from './anchors.js'
import { checkpointHash, originOf, parseCheckpoint, signCheckpoint, type Signer } from './checkpoint.js'

export interface WrittenCheckpoint {
  text: string
  size: number
  /** Anchors that failed, with why. */
  failed: Array<{ anchor: string; error: string }>
}

/**
 * Signs the store's tree as it is now, keeps the checkpoint with the store and sends it to the
 * anchors; undefined when the store is empty, or (unless `force`) nothing changed since the last one.
 */
export async function writeCheckpoint(store: AuditStore, signer: Signer, options: { cluster: string; anchors?: readonly Anchor[]; force?: boolean }): Promise<WrittenCheckpoint | undefined> {
  if (!hasMerkleTree(store)) throw new KubetrailError('KT_STORE_NO_TREE', 'this store keeps no Merkle tree: it cannot be checkpointed', { hint: 'Signed checkpoints need a store with a Merkle tree (docs/integrity.md).' })
  const links = await store.links()
  const head = links.at(-1)
  if (!head) return undefined
  const tree = new MerkleTree(await store.merkleGroups())
  const saved = await store.savedCheckpoints()
  const last = saved.at(-1)
  if (last && !options.force) {
    const previous = parseCheckpoint(last)
    if (previous.chainSeq === head.seq && previous.chainHash === head.hash) return undefined
  }
  const text = signCheckpoint(
    {
      origin: originOf(links[0]!.hash),
      size: tree.size,
      root: tree.root(),
      time: new Date().toISOString(),
      cluster: options.cluster,
      chainSeq: head.seq,
      chainHash: head.hash,
      prev: last ? checkpointHash(last) : 'genesis',
    },
    signer,
  )
  await store.saveCheckpoint(text, tree.size)
  const failed: WrittenCheckpoint['failed'] = []
  for (const a of options.anchors ?? []) {
    try {
      await a.write(text, tree.size)
    } catch (error) {
      failed.push({ anchor: a.name, error: (error as Error).message })
    }
  }
  return { text, size: tree.size, failed }
}

export interface CheckpointerOptions {
  /** Opens the store for reading (a fresh reader per checkpoint: the writer may be in another thread). */
  open: () => Promise<AuditStore>
  signer: Signer
  cluster: string
  anchors: readonly Anchor[]
  intervalMs: number
  log: (line: string) => void
  /** Called after each attempt (metrics). */
  onWritten?: (c: WrittenCheckpoint) => void
  onError?: (error: Error) => void
}

/** `serve`'s checkpoints: every `intervalMs` while the tree grows, and one when it stops. */
export class Checkpointer {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<unknown> = Promise.resolve()

  constructor(private readonly options: CheckpointerOptions) {}

  start(): void {
    if (this.options.intervalMs > 0) this.timer = setInterval(() => void this.checkpoint(), this.options.intervalMs)
  }

  /** Writes a checkpoint now (one at a time); resolves with it, or undefined when nothing changed or it failed. */
  checkpoint(force = false): Promise<WrittenCheckpoint | undefined> {
    const run = this.running.then(() => this.checkpointNow(force))
    this.running = run.catch(() => undefined)
    return run
  }

  private async checkpointNow(force: boolean): Promise<WrittenCheckpoint | undefined> {
    let store: AuditStore | undefined
    try {
      store = await this.options.open()
      const written = await writeCheckpoint(store, this.options.signer, { cluster: this.options.cluster, anchors: this.options.anchors, force })
      if (written) {
        for (const f of written.failed) this.options.log(`checkpoint of ${written.size} events not sent to ${f.anchor}: ${f.error}`)
        this.options.onWritten?.(written)
      }
      return written
    } catch (error) {
      this.options.log(`checkpoint failed: ${(error as Error).message}`)
      this.options.onError?.(error as Error)
      return undefined
    } finally {
      await store?.close()
    }
  }

  /** Stops the timer and writes the last checkpoint (the store holds everything by now). */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.checkpoint()
  }
}
