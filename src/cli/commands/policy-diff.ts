/**
 * @module `kubetrail policy diff OLD NEW LOG...`: what changes between two policies on the same
 * recorded traffic — events gained and lost, level changes and bytes, grouped by the rules
 * that decided them.
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, KUBERNETES_VERSION_OPTION } from '../command.js'
import { formatBytes, formatCount } from '../format.js'
import { renderTable, type Column } from '../output.js'
import { LEVEL_SCHEMA, TALLY_SCHEMA } from '../schemas.js'
import { UsageError } from '../../core/errors.js'
import { compilePolicy, createPolicyDiff, describeRule, loadPolicyFile, parseKubernetesVersion, type DiffSide, type LoadedPolicy, type PolicyDiffSummary } from '../../policy/index.js'
import { logInput } from '../log-input.js'

interface DiffOptions {
  all?: boolean
  kubernetesVersion?: string
}

const SIDE = Type.Object({ rule: Type.Union([Type.Integer(), Type.Null()]), level: LEVEL_SCHEMA, kept: Type.Boolean() }, { additionalProperties: false })
/** -o json: the PolicyDiffSummary. */
const DIFF_SCHEMA = Type.Object(
  {
    input: Type.Object({ events: Type.Integer() }, { additionalProperties: false }),
    old: TALLY_SCHEMA,
    new: TALLY_SCHEMA,
    gained: TALLY_SCHEMA,
    lost: TALLY_SCHEMA,
    levelChanged: Type.Object({ events: Type.Integer(), oldBytes: Type.Integer(), newBytes: Type.Integer() }, { additionalProperties: false }),
    transitions: Type.Array(
      Type.Object(
        {
          old: SIDE,
          new: SIDE,
          events: Type.Integer(),
          oldBytes: Type.Integer(),
          newBytes: Type.Integer(),
          change: Type.Union(['gained', 'lost', 'level-changed', 'unchanged', 'not-logged'].map((c) => Type.Literal(c))),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
const R = (header: string): Column => ({ header, align: 'right' })

function sideLabel(side: DiffSide, loaded: LoadedPolicy): string {
  if (side.rule === null) return 'no rule (None)'
  const line = loaded.ruleLines[side.rule]
  const what = side.kept ? side.level : side.level === 'None' ? 'None' : `${side.level}, stage omitted`
  return `#${side.rule} line ${line ?? '?'} (${what})`
}

function signedBytes(n: number): string {
  return n === 0 ? '0 B' : `${n > 0 ? '+' : '-'}${formatBytes(Math.abs(n))}`
}

export function renderPolicyDiff(oldFile: string, newFile: string, oldP: LoadedPolicy, newP: LoadedPolicy, d: PolicyDiffSummary, all: boolean): string {
  const out: string[] = []
  out.push(`Replayed ${formatCount(d.input.events)} recorded events under both policies.`)
  out.push('')
  out.push(
    renderTable(
      ['', R('events'), R('bytes')],
      [
        [`old ${oldFile}`, formatCount(d.old.events), formatBytes(d.old.bytes)],
        [`new ${newFile}`, formatCount(d.new.events), formatBytes(d.new.bytes)],
        ['gained (only new logs them)', `+${formatCount(d.gained.events)}`, `+${formatBytes(d.gained.bytes)}`],
        ['lost (only old logs them)', `-${formatCount(d.lost.events)}`, `-${formatBytes(d.lost.bytes)}`],
        ['level changed', formatCount(d.levelChanged.events), signedBytes(d.levelChanged.newBytes - d.levelChanged.oldBytes)],
      ],
      { indent: '  ' },
    ),
  )
  const shown = d.transitions.filter((t) => all || (t.change !== 'unchanged' && t.change !== 'not-logged'))
  out.push('', all ? 'All rule transitions:' : 'Changes by rule (old rule → new rule), biggest first:')
  if (shown.length === 0) out.push('  (no differences on this traffic)')
  else
    out.push(
      renderTable(
        ['change', R('events'), R('bytes'), 'old rule', 'new rule'],
        shown.map((t) => [t.change, formatCount(t.events), signedBytes(t.newBytes - t.oldBytes), sideLabel(t.old, oldP), sideLabel(t.new, newP)]),
        { indent: '  ' },
      ),
    )
  const rulesUsed = new Set(shown.flatMap((t) => [t.new.rule]).filter((r): r is number => r !== null))
  if (rulesUsed.size > 0) {
    out.push('', 'New rules referenced above:')
    for (const r of [...rulesUsed].sort((a, b) => a - b)) out.push(`  #${r} line ${newP.ruleLines[r] ?? '?'}: ${describeRule(newP.rules[r]!)}`)
  }
  return out.join('\n') + '\n'
}

export default defineCommand<DiffOptions>({
  path: ['policy', 'diff'],
  summary: 'compare two policies on the same recorded traffic: events gained, lost and re-levelled',
  description: 'LOG should be recorded with a catch-all RequestResponse rule and no omitted stages (see `policy simulate`).',
  args: [
    { name: '<old>', description: 'the policy in use' },
    { name: '<new>', description: 'the policy you want to roll out' },
    { name: '<log...>', description: 'recorded audit logs' },
  ],
  options: [
    { flags: '--all', description: 'also list transitions that change nothing' },
    KUBERNETES_VERSION_OPTION,
  ],
  output: { schema: DIFF_SCHEMA },
  examples: [
    'kubetrail policy diff /etc/kubernetes/audit-policy.yaml new-policy.yaml recorded.log',
    'kubetrail policy diff minimal.yaml comprehensive.yaml audit-*.log.gz -o json',
  ],
  async handler(args, opts, ctx) {
    const [oldFile, newFile, ...logs] = args
    if (!oldFile || !newFile || logs.length === 0) throw new UsageError('diff needs two policies and at least one log')
    const oldP = await loadPolicyFile(oldFile, { kubernetesVersion: parseKubernetesVersion(opts.kubernetesVersion) })
    const newP = await loadPolicyFile(newFile, { kubernetesVersion: parseKubernetesVersion(opts.kubernetesVersion) })
    const diff = createPolicyDiff(
      compilePolicy(oldP.policy, { kubernetesVersion: oldP.kubernetesVersion }),
      compilePolicy(newP.policy, { kubernetesVersion: newP.kubernetesVersion }),
    )
    const source = logInput(logs, ctx)
    for await (const batch of source.batches('head')) for (const rec of batch) diff.add(rec)
    const summary = diff.summary()
    return { report: { data: summary, text: () => renderPolicyDiff(oldFile, newFile, oldP, newP, summary, Boolean(opts.all)) }, warnings: source.warnings, exitCode: source.malformedCount() > 0 ? 1 : 0 }
  },
})
