/**
 * @module The options of the commands that write signed checkpoints (`import`, `serve`): the
 * signing key, and the anchors outside the store each checkpoint is also written to.
 */
import { resolve } from 'node:path'
import type { OptionSpec } from './command.js'
import { UsageError } from '../core/errors.js'
import type { Anchor, Signer } from '../integrity/index.js'

export interface CheckpointFlags {
  checkpoint?: boolean
  checkpointKey?: string
  checkpointDir?: string[]
  checkpointUrl?: string[]
}

export const CHECKPOINT_OPTIONS: readonly OptionSpec[] = [
  {
    flags: '--checkpoint-key <file>',
    description: 'Ed25519 key that signs checkpoints of the Merkle tree, made (0600) on first use (default: $KUBETRAIL_CHECKPOINT_KEY, else ~/.config/kubetrail/checkpoint.key; keep it outside the data directory)',
  },
  { flags: '--checkpoint-dir <dir>', description: 'also write each signed checkpoint into this directory (another disk, a mounted bucket; repeatable)', repeatable: true },
  { flags: '--checkpoint-url <url>', description: 'also POST each signed checkpoint to this URL (a witness, a log collector; repeatable)', repeatable: true },
  { flags: '--no-checkpoint', description: 'write no signed checkpoint' },
]

/** The signer and anchors the flags name; undefined with --no-checkpoint. */
export async function checkpointSetup(opts: CheckpointFlags, cwd: string): Promise<{ signer: Signer; keyPath: string; created: boolean; anchors: Anchor[] } | undefined> {
  if (opts.checkpoint === false) return undefined
  const { defaultKeyPath, directoryAnchor, httpAnchor, loadOrCreateSigner } = await import('../integrity/index.js')
  for (const u of opts.checkpointUrl ?? []) if (!/^https?:\/\/[^/]/.test(u)) throw new UsageError(`--checkpoint-url "${u}": give an http:// or https:// URL`)
  const keyPath = opts.checkpointKey ? resolve(cwd, opts.checkpointKey) : defaultKeyPath()
  const { signer, created } = loadOrCreateSigner(keyPath)
  const anchors = [...(opts.checkpointDir ?? []).map((d) => directoryAnchor(resolve(cwd, d))), ...(opts.checkpointUrl ?? []).map((u) => httpAnchor(u))]
  return { signer, keyPath, created, anchors }
}
