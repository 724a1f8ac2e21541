/**
 * @module `kubetrail verify-proof PROOF --public-key KEY`: checks a proof from `kubetrail prove`
 * with nothing but the proof (or, with --event, the auditor's own copy of the event) and the
 * public key. No store is opened.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { defineCommand } from '../command.js'
import { FileReadError, UsageError } from '../../core/errors.js'
import { publicKeys } from './verify.js'

interface VerifyProofOptions {
  publicKey?: string[]
  event?: string
}

const VERIFY_PROOF_SCHEMA = Type.Object(
  {
    ok: Type.Boolean(),
    kind: Type.Union([Type.Literal('inclusion'), Type.Literal('consistency')]),
    checkpoints: Type.Array(
      Type.Object({ size: Type.Integer({ minimum: 0 }), root: Type.String(), time: Type.String(), cluster: Type.String(), signer: Type.String() }, { additionalProperties: false }),
    ),
    events: Type.Array(Type.Object({ cluster: Type.String(), auditId: Type.String(), stage: Type.String(), index: Type.Integer({ minimum: 0 }), ok: Type.Boolean() }, { additionalProperties: false })),
    problems: Type.Array(Type.String()),
  },
  { additionalProperties: false },
)

function readText(path: string, cwd: string): string {
  try {
    return readFileSync(path === '-' ? 0 : resolve(cwd, path), 'utf8')
  } catch (error) {
    throw new FileReadError(path, error)
  }
}

export default defineCommand<VerifyProofOptions>({
  path: ['verify-proof'],
  summary: 'check a proof from `kubetrail prove` offline: its checkpoints\' signatures and the events\' audit paths',
  description: 'Exit 0 when the proof holds, 1 when it does not (an event or the proof was changed, or the checkpoint is forged).',
  args: [{ name: '<proof>', description: 'the proof file (- for stdin)' }],
  options: [
    { flags: '--public-key <key|file>', description: 'the key the checkpoint must be signed by (repeatable)', repeatable: true },
    { flags: '--event <file>', description: 'check these events (NDJSON, one per stage, as in the proof) instead of the copies the proof carries' },
  ],
  output: { schema: VERIFY_PROOF_SCHEMA },
  examples: ['kubetrail verify-proof evidence.json --public-key "$(cat checkpoint.key.pub)"', 'kubetrail verify-proof evidence.json --public-key checkpoint.key.pub --event my-copy.ndjson'],
  async handler(args, opts, ctx) {
    if ((opts.publicKey?.length ?? 0) === 0) throw new UsageError('--public-key is required: a proof is only worth the key that signed its checkpoint')
    const { checkProof, parseProof } = await import('../../integrity/index.js')
    const verifiers = await publicKeys(opts.publicKey!, ctx.cwd)
    const proof = parseProof(readText(args[0]!, ctx.cwd), args[0])
    const events = opts.event === undefined ? undefined : readText(opts.event, ctx.cwd).split('\n').filter((l) => l.trim() !== '')
    const check = checkProof(proof, verifiers, events)
    const lines = check.ok
      ? [
          check.kind === 'inclusion'
            ? `OK: ${check.events.length} event(s) of ${check.events[0]?.auditId || 'the request'} are in the tree of ${check.checkpoints[0]!.size.toLocaleString('en-US')} events signed by ${check.checkpoints[0]!.signer} at ${check.checkpoints[0]!.time}`
            : `OK: the tree of ${check.checkpoints[1]!.size.toLocaleString('en-US')} events (${check.checkpoints[1]!.time}) extends the tree of ${check.checkpoints[0]!.size.toLocaleString('en-US')} (${check.checkpoints[0]!.time}), both signed by ${check.checkpoints[0]!.signer}`,
        ]
      : ['PROOF FAILED:', ...check.problems.map((p) => `  ${p}`)]
    return { report: { data: check, text: () => lines.join('\n') + '\n' }, exitCode: check.ok ? 0 : 1 }
  },
})
