/**
 * @module `kubetrail verify`: recompute the store's hash chain and name the first batch that was
 * altered, removed, reordered or inserted.
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { openStore, resolveStore, type StoreFlags } from '../../store/index.js'

type VerifyOptions = StoreFlags

/** -o json: the store's VerifyReport. */
const VERIFY_SCHEMA = Type.Object(
  {
    ok: Type.Boolean(),
    links: Type.Integer({ minimum: 0 }),
    events: Type.Integer({ minimum: 0 }),
    problems: Type.Array(Type.Object({ seq: Type.Integer(), problem: Type.String() }, { additionalProperties: false })),
    head: Type.Optional(Type.String({ description: 'hash of the last chain link: record it elsewhere' })),
  },
  { additionalProperties: false },
)

export default defineCommand<VerifyOptions>({
  path: ['verify'],
  summary: 'check the tamper-evident chain of stored batches; name the first batch that was changed',
  description: 'Exit 0 when every batch is intact, 1 otherwise. The last line is the chain head: record it elsewhere to detect a rewritten chain.',
  args: [],
  options: [...STORE_OPTIONS],
  output: { schema: VERIFY_SCHEMA },
  examples: ['kubetrail verify', 'kubetrail verify --data-dir /var/lib/kubetrail -o json'],
  async handler(_args, opts, ctx) {
    const store = await openStore(resolveStore(opts, ctx.cwd))
    let report
    try {
      report = await store.verify()
    } finally {
      await store.close()
    }
    const exitCode = report.ok ? 0 : 1
    const lines = report.ok
      ? [`OK: ${report.links} chain links, ${report.events.toLocaleString('en-US')} events intact`]
      : [`TAMPERED: first problem in batch ${report.problems[0]!.seq}`, ...report.problems.map((p) => `  batch ${p.seq}: ${p.problem}`)]
    if (report.head) lines.push(`chain head: ${report.head}`)
    const data = { ok: report.ok, links: report.links, events: report.events, problems: report.problems, ...(report.head ? { head: report.head } : {}) }
    return { report: { data, text: () => lines.join('\n') + '\n' }, exitCode }
  },
})
