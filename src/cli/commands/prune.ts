/**
 * @module `kubetrail prune --older-than 90d`: retention. Whole batches whose newest event is
 * older than the cutoff are removed; the removal is itself a chain link, so `verify` still
 * passes and shows what was pruned.
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { UsageError } from '../../core/errors.js'
import { openStore, resolveStore, type StoreFlags } from '../../store/index.js'
import { parseDuration } from '../query-options.js'

interface PruneOptions extends StoreFlags {
  olderThan?: string
}

/** -o json: what was removed, and the cutoff used. */
const PRUNE_SCHEMA = Type.Object(
  { prunedBatches: Type.Integer({ minimum: 0 }), prunedEvents: Type.Integer({ minimum: 0 }), olderThan: Type.String({ description: 'the cutoff, RFC 3339' }) },
  { additionalProperties: false },
)

export default defineCommand<PruneOptions>({
  path: ['prune'],
  summary: 'delete stored events older than a retention period, keeping the chain verifiable',
  args: [],
  options: [{ flags: '--older-than <duration>', description: 'retention, e.g. 90d, 400d, 12w' }, ...STORE_OPTIONS],
  output: { schema: PRUNE_SCHEMA },
  examples: ['kubetrail prune --older-than 90d'],
  async handler(_args, opts, ctx) {
    if (!opts.olderThan) throw new UsageError('--older-than is required, e.g. --older-than 90d')
    const cutoff = new Date(Date.now() - parseDuration(opts.olderThan, '--older-than'))
    const store = await openStore(resolveStore(opts, ctx.cwd), { write: true })
    try {
      const r = await store.prune(cutoff)
      const data = { prunedBatches: r.prunedBatches, prunedEvents: r.prunedEvents, olderThan: cutoff.toISOString() }
      return { report: { data, text: () => `pruned ${r.prunedBatches} batch(es), ${r.prunedEvents.toLocaleString('en-US')} events older than ${data.olderThan}\n` } }
    } finally {
      await store.close()
    }
  },
})
