/**
 * @module `kubetrail prove AUDITID`: an inclusion proof of a request's stored events against a
 * signed checkpoint; `kubetrail prove --since OLD`: a consistency proof that the store's tree
 * grew from an older checkpoint's by appending only. Both are checked offline by `verify-proof`.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { KubetrailError, UsageError } from '../../core/errors.js'
import { hasMerkleTree, openStore, resolveStore, type StoreFlags } from '../../store/index.js'

interface ProveOptions extends StoreFlags {
  checkpoint?: string
  since?: string
}

async function oneCheckpoint(path: string, cwd: string, what: string): Promise<string> {
  const { checkpointsIn } = await import('../../integrity/index.js')
  const found = checkpointsIn(readFileSync(resolve(cwd, path), 'utf8'))
  if (found.length === 0) throw new UsageError(`${what} ${path} holds no checkpoint`)
  return found.at(-1)!
}

export default defineCommand<ProveOptions>({
  path: ['prove'],
  summary: 'print a proof, checkable offline with verify-proof: that a request\'s events are in a signed checkpoint (or, --since, that the store only grew)',
  description:
    'The proof is a JSON document holding the signed checkpoint, the events as stored (every stage of the request) and\n' +
    'their audit paths (O(log n) hashes): hand it, with the public key, to an auditor who has no access to the store.',
  args: [{ name: '[auditID]', description: 'the request to prove (its auditID)' }],
  options: [
    { flags: '--checkpoint <file>', description: "the checkpoint to prove against (default: the store's latest)" },
    { flags: '--since <file>', description: 'instead: prove that the store\'s tree (at --checkpoint, or its latest) extends the tree of this older checkpoint' },
    ...STORE_OPTIONS,
  ],
  examples: ['kubetrail prove 5b1c0e52-8a0e-4b2f-9c43-0d3d9c6a0f11 > evidence.json', 'kubetrail prove --since /mnt/elsewhere/checkpoints/00000000001891-1764876000000.checkpoint > grew.json'],
  async handler(args, opts, ctx) {
    const auditId = args[0]
    if (auditId === undefined && opts.since === undefined) throw new UsageError('give an auditID to prove, or --since OLD-CHECKPOINT')
    if (auditId !== undefined && opts.since !== undefined) throw new UsageError('an auditID or --since, not both')
    const { proveConsistency, proveEvent } = await import('../../integrity/index.js')
    const since = opts.since === undefined ? undefined : await oneCheckpoint(opts.since, ctx.cwd, '--since')
    const given = opts.checkpoint === undefined ? undefined : await oneCheckpoint(opts.checkpoint, ctx.cwd, '--checkpoint')
    const store = await openStore(resolveStore(opts, ctx.cwd))
    try {
      if (!hasMerkleTree(store)) throw new KubetrailError('KT_STORE_NO_TREE', 'this store keeps no Merkle tree: nothing can be proven')
      const checkpoint = given ?? (await store.savedCheckpoints()).at(-1)
      if (!checkpoint) throw new KubetrailError('KT_CHECKPOINT_NONE', 'the store holds no signed checkpoint yet', { hint: '`kubetrail import` writes one at its end, `serve` one every minute; or give --checkpoint.' })
      const proof = since !== undefined ? await proveConsistency(store, since, checkpoint) : await proveEvent(store, auditId!, checkpoint)
      return { output: JSON.stringify(proof, null, 2) + '\n' }
    } finally {
      await store.close()
    }
  },
})
