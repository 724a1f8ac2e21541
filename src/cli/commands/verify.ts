/**
 * @module `kubetrail verify`: recompute the store's hash chain and name the first batch that was
 * altered, removed, reordered or inserted; with `--expect-head`, also a tail cut off the chain.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { UsageError } from '../../core/errors.js'
import { formatHead, openStore, parseHeadRecord, resolveStore, type StoreFlags } from '../../store/index.js'

interface VerifyOptions extends StoreFlags {
  expectHead?: string
}

/** -o json: the store's VerifyReport. */
const VERIFY_SCHEMA = Type.Object(
  {
    ok: Type.Boolean(),
    links: Type.Integer({ minimum: 0 }),
    events: Type.Integer({ minimum: 0 }),
    problems: Type.Array(Type.Object({ seq: Type.Integer(), problem: Type.String() }, { additionalProperties: false })),
    head: Type.Optional(Type.String({ description: 'hash of the last chain link: record it elsewhere' })),
    headSeq: Type.Optional(Type.Integer({ minimum: 1, description: 'the link number of the head' })),
  },
  { additionalProperties: false },
)

/** `--expect-head`: a hash as printed, or a file holding one (the last head written in it counts). */
function expectedHead(value: string, cwd: string): { hash: string; seq?: number } {
  const direct = parseHeadRecord(value)
  if (direct && /^[0-9a-f]{64}( \(link \d+\))?$/.test(value.trim())) return direct
  const path = resolve(cwd, value)
  if (!existsSync(path)) throw new UsageError(`--expect-head takes a chain head (64 hex digits) or a file holding one; ${value} is neither`)
  const fromFile = parseHeadRecord(readFileSync(path, 'utf8'))
  if (!fromFile) throw new UsageError(`${path} holds no chain head (64 hex digits, as \`kubetrail verify\`, \`import\` and the collector's log print it)`)
  return fromFile
}

export default defineCommand<VerifyOptions>({
  path: ['verify'],
  summary: 'check the tamper-evident chain of stored batches; name the first batch that was changed',
  description:
    'Exit 0 when every batch is intact, 1 otherwise. The last line is the chain head: record it outside the data directory (`import` prints it, the collector logs it on every commit) and check it later with --expect-head, which also detects a tail cut off the chain.',
  args: [],
  options: [
    { flags: '--expect-head <hash|file>', description: "a chain head recorded earlier, or a file holding one (e.g. a saved verify output or the collector's log): the chain must still hold it" },
    ...STORE_OPTIONS,
  ],
  output: { schema: VERIFY_SCHEMA },
  examples: ['kubetrail verify', 'kubetrail verify --data-dir /var/lib/kubetrail -o json', 'kubetrail verify --expect-head /mnt/elsewhere/kubetrail-head.txt'],
  async handler(_args, opts, ctx) {
    const expectHead = opts.expectHead === undefined ? undefined : expectedHead(opts.expectHead, ctx.cwd)
    const store = await openStore(resolveStore(opts, ctx.cwd))
    let report
    try {
      report = await store.verify({ expectHead })
    } finally {
      await store.close()
    }
    const exitCode = report.ok ? 0 : 1
    const lines = report.ok
      ? [`OK: ${report.links} chain links, ${report.events.toLocaleString('en-US')} events intact${expectHead ? ', the recorded head included' : ''}`]
      : [`TAMPERED: first problem in batch ${report.problems[0]!.seq}`, ...report.problems.map((p) => `  batch ${p.seq}: ${p.problem}`)]
    if (report.head) lines.push(`chain head: ${report.headSeq === undefined ? report.head : formatHead({ hash: report.head, seq: report.headSeq })}`)
    const data = {
      ok: report.ok,
      links: report.links,
      events: report.events,
      problems: report.problems,
      ...(report.head ? { head: report.head } : {}),
      ...(report.headSeq !== undefined ? { headSeq: report.headSeq } : {}),
    }
    return { report: { data, text: () => lines.join('\n') + '\n' }, exitCode }
  },
})
