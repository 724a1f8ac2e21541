/**
 * @module `kubetrail verify`: recompute the store's hash chain and name the first batch that was
 * altered, removed, reordered or inserted; with `--expect-head`, also a tail cut off the chain;
 * and check the Merkle tree and the events against the signed checkpoints the store keeps and
 * those given with `--checkpoint` (docs/integrity.md), which catch a store rebuilt from edited events.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { UsageError } from '../../core/errors.js'
import { formatHead, hasMerkleTree, openStore, parseHeadRecord, resolveStore, type StoreFlags } from '../../store/index.js'
import type { IntegrityReport, Verifier } from '../../integrity/index.js'

interface VerifyOptions extends StoreFlags {
  expectHead?: string
  checkpoint?: string[]
  publicKey?: string[]
  checkpointKey?: string
}

/** -o json: the store's VerifyReport, and what the Merkle tree and checkpoints gave. */
const VERIFY_SCHEMA = Type.Object(
  {
    ok: Type.Boolean(),
    links: Type.Integer({ minimum: 0 }),
    events: Type.Integer({ minimum: 0 }),
    problems: Type.Array(Type.Object({ seq: Type.Integer(), problem: Type.String() }, { additionalProperties: false })),
    head: Type.Optional(Type.String({ description: 'hash of the last chain link: record it elsewhere' })),
    headSeq: Type.Optional(Type.Integer({ minimum: 1, description: 'the link number of the head' })),
    tree: Type.Optional(
      Type.Object(
        {
          size: Type.Integer({ minimum: 0, description: 'events in the Merkle tree' }),
          root: Type.String({ description: 'its root hash (hex)' }),
          checkpoints: Type.Array(
            Type.Object(
              { source: Type.String(), size: Type.Integer({ minimum: 0 }), time: Type.String(), signer: Type.String(), ok: Type.Boolean(), problem: Type.Optional(Type.String()) },
              { additionalProperties: false },
            ),
          ),
          problems: Type.Array(Type.Object({ seq: Type.Optional(Type.Integer()), checkpoint: Type.Optional(Type.String()), problem: Type.String() }, { additionalProperties: false })),
        },
        { additionalProperties: false, description: 'the Merkle tree against the events and the signed checkpoints (docs/integrity.md)' },
      ),
    ),
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

/** `--public-key`: a verifier key as `checkpoint keygen` prints it, or a file holding one. */
export async function publicKeys(values: readonly string[], cwd: string): Promise<Verifier[]> {
  const { parsePublicKey } = await import('../../integrity/index.js')
  return values.map((v) => {
    const path = resolve(cwd, v)
    return existsSync(path) ? parsePublicKey(readFileSync(path, 'utf8'), path) : parsePublicKey(v, `--public-key ${v}`)
  })
}

/** The public half of the local signing key, when there is one: the store's own checkpoints are checked with it. */
async function localKeys(keyPath: string | undefined, cwd: string): Promise<Verifier[]> {
  const { defaultKeyPath, parsePublicKey, parsePrivateKey, publicKeyPathOf } = await import('../../integrity/index.js')
  const path = keyPath ? resolve(cwd, keyPath) : defaultKeyPath()
  try {
    if (existsSync(publicKeyPathOf(path))) return [parsePublicKey(readFileSync(publicKeyPathOf(path), 'utf8'), publicKeyPathOf(path))]
    if (existsSync(path)) return [parsePublicKey(parsePrivateKey(readFileSync(path, 'utf8'), path).publicKey)]
  } catch {
    // an unreadable local key only means the store's own checkpoints go unchecked
  }
  return []
}

function treeLines(t: IntegrityReport): string[] {
  const lines = [`Merkle tree: ${t.treeSize.toLocaleString('en-US')} events, ${t.checkpoints.length} signed checkpoint(s) checked, ${t.checkpoints.filter((c) => c.ok).length} match`]
  for (const p of t.problems) lines.push(`  ${p.checkpoint ? `checkpoint ${p.checkpoint}` : p.seq !== undefined ? `batch ${p.seq}` : 'tree'}: ${p.problem}`)
  return lines
}

export default defineCommand<VerifyOptions>({
  path: ['verify'],
  summary: 'check the tamper-evident chain and Merkle tree of stored events, against signed checkpoints; name what was changed',
  description:
    'Exit 0 when every batch is intact and every checkpoint matches, 1 otherwise. The chain head (last line) and the signed\n' +
    'checkpoints (docs/integrity.md) are records kept outside the data directory: --expect-head catches a tail cut off\n' +
    'the chain; --checkpoint (a file, a directory anchor, a saved log, a witness URL) with --public-key catches a store\n' +
    'rebuilt from edited events, even one whose every hash was recomputed.',
  args: [],
  options: [
    { flags: '--expect-head <hash|file>', description: "a chain head recorded earlier, or a file holding one (e.g. a saved verify output or the collector's log): the chain must still hold it" },
    { flags: '--checkpoint <file|dir|url>', description: 'signed checkpoints kept outside the store: each must match the store (repeatable)', repeatable: true },
    { flags: '--public-key <key|file>', description: 'the key the checkpoints must be signed by (`checkpoint keygen` prints it; repeatable)', repeatable: true },
    { flags: '--checkpoint-key <file>', description: "the local signing key, whose public half checks the store's own checkpoints (default: as import and serve)" },
    ...STORE_OPTIONS,
  ],
  output: { schema: VERIFY_SCHEMA },
  examples: [
    'kubetrail verify',
    'kubetrail verify --data-dir /var/lib/kubetrail -o json',
    'kubetrail verify --expect-head /mnt/elsewhere/kubetrail-head.txt',
    'kubetrail verify --checkpoint /mnt/elsewhere/checkpoints/ --public-key "$(cat checkpoint.key.pub)"',
  ],
  async handler(_args, opts, ctx) {
    const expectHead = opts.expectHead === undefined ? undefined : expectedHead(opts.expectHead, ctx.cwd)
    if ((opts.checkpoint?.length ?? 0) > 0 && (opts.publicKey?.length ?? 0) === 0)
      throw new UsageError('--checkpoint needs --public-key: a checkpoint is only worth the key that signed it', 'Pass the verifier key `kubetrail checkpoint keygen` printed (or its .pub file).')
    const verifiers = await publicKeys(opts.publicKey ?? [], ctx.cwd)
    const integrity = await import('../../integrity/index.js')
    const given = (await Promise.all((opts.checkpoint ?? []).map((c) => integrity.loadCheckpoints(c, ctx.cwd)))).flat()
    const store = await openStore(resolveStore(opts, ctx.cwd))
    let report
    let tree: IntegrityReport | undefined
    try {
      report = await store.verify({ expectHead })
      if (hasMerkleTree(store)) tree = await integrity.verifyIntegrity(store, { given, verifiers, localVerifiers: await localKeys(opts.checkpointKey, ctx.cwd) })
      else if (given.length > 0) throw new UsageError('this store keeps no Merkle tree: it cannot be checked against checkpoints')
    } finally {
      await store.close()
    }
    const ok = report.ok && (tree?.ok ?? true)
    const lines = report.ok
      ? [`OK: ${report.links} chain links, ${report.events.toLocaleString('en-US')} events intact${expectHead ? ', the recorded head included' : ''}`]
      : [`TAMPERED: first problem in batch ${report.problems[0]!.seq}`, ...report.problems.map((p) => `  batch ${p.seq}: ${p.problem}`)]
    if (tree) {
      if (!tree.ok && report.ok) lines[0] = `TAMPERED: the store does not match its Merkle tree or a signed checkpoint`
      lines.push(...treeLines(tree))
    }
    if (report.head) lines.push(`chain head: ${report.headSeq === undefined ? report.head : formatHead({ hash: report.head, seq: report.headSeq })}`)
    const data = {
      ok,
      links: report.links,
      events: report.events,
      problems: report.problems,
      ...(report.head ? { head: report.head } : {}),
      ...(report.headSeq !== undefined ? { headSeq: report.headSeq } : {}),
      ...(tree ? { tree: { size: tree.treeSize, root: tree.root, checkpoints: tree.checkpoints, problems: tree.problems } } : {}),
    }
    return { report: { data, text: () => lines.join('\n') + '\n' }, exitCode: ok ? 0 : 1 }
  },
})
