/**
 * @module `kubetrail rules check` and `kubetrail rules coverage`: validate detection rule files,
 * and say which rules can never fire under an audit policy.
 */
import { resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { defineCommand, KUBERNETES_VERSION_OPTION } from '../command.js'
import { formatIssue } from '../../core/errors.js'
import { renderTable } from '../output.js'
import { ISSUE_SCHEMA } from '../schemas.js'

/** -o json of `rules check`: the valid rules' ids and every problem. */
const RULES_CHECK_SCHEMA = Type.Object({ valid: Type.Array(Type.String()), problems: Type.Array(ISSUE_SCHEMA) }, { additionalProperties: false })
/** -o json of `rules coverage`: per rule, whether the policy lets it fire, and why not. */
const COVERAGE_SCHEMA = Type.Array(
  Type.Object(
    { rule: Type.String(), status: Type.Union(['covered', 'partial', 'never', 'unknown'].map((s) => Type.Literal(s))), reasons: Type.Array(Type.String()) },
    { additionalProperties: false },
  ),
)

type RulesCheckOptions = Record<string, never>

export const rulesCheck = defineCommand<RulesCheckOptions>({
  path: ['rules', 'check'],
  summary: 'validate detection rule files: fields, CEL conditions and output templates (typed against the audit Event)',
  description: 'Every problem is listed with file:line:column; the valid rules of a file still load. Exit 1 when any rule is invalid.',
  args: [{ name: '[files...]', description: 'rule files or directories (default: the built-in pack)' }],
  options: [],
  output: { schema: RULES_CHECK_SCHEMA },
  examples: ['kubetrail rules check my-rules.yaml', 'kubetrail rules check rules/'],
  async handler(args, _opts, ctx) {
    const { BUILTIN_RULES_FILE, loadRuleFiles } = await import('../../detect/index.js')
    const files = args.length > 0 ? args.map((a) => resolve(ctx.cwd, a)) : [BUILTIN_RULES_FILE]
    const { rules, issues } = loadRuleFiles(files)
    const text = () => [...issues.map(formatIssue), `${rules.length} valid rule(s), ${issues.length} problem(s)`].join('\n') + '\n'
    return { report: { data: { valid: rules.map((r) => r.id), problems: issues }, text }, exitCode: issues.length > 0 ? 1 : 0 }
  },
})

interface RulesCoverageOptions {
  policy?: string
  rules?: string[]
  kubernetesVersion?: string
}

export const rulesCoverage = defineCommand<RulesCoverageOptions>({
  path: ['rules', 'coverage'],
  summary: 'which detection rules can never fire under an audit policy (level too low, stage omitted, not logged)',
  description: "Each rule's sample requests (requires.samples) are decided by the policy engine, exactly as the apiserver would. Exit 1 when a rule can never fire.",
  args: [],
  options: [
    { flags: '--policy <file>', description: 'the audit policy' },
    { flags: '--rules <path>', description: 'rule files or directories (repeatable; default: the built-in pack)', repeatable: true },
    KUBERNETES_VERSION_OPTION,
  ],
  output: { schema: COVERAGE_SCHEMA },
  examples: ['kubetrail rules coverage --policy /etc/kubernetes/audit/policy.yaml'],
  async handler(_args, opts, ctx) {
    if (!opts.policy) throw new (await import('../../core/errors.js')).UsageError('--policy is required')
    const { BUILTIN_RULES_FILE, loadRuleFiles, ruleCoverage } = await import('../../detect/index.js')
    const { compilePolicy, loadPolicyFile, parseKubernetesVersion } = await import('../../policy/index.js')
    const version = opts.kubernetesVersion ? parseKubernetesVersion(opts.kubernetesVersion) : undefined
    const loaded = await loadPolicyFile(resolve(ctx.cwd, opts.policy), { kubernetesVersion: version })
    const { rules, issues } = loadRuleFiles(opts.rules?.length ? opts.rules.map((r) => resolve(ctx.cwd, r)) : [BUILTIN_RULES_FILE])
    const results = ruleCoverage(rules, compilePolicy(loaded.policy, { kubernetesVersion: loaded.kubernetesVersion }))
    const exitCode = results.some((r) => r.status === 'never') ? 1 : 0
    const rows = results.map((r) => [r.status.toUpperCase(), r.rule, r.reasons.join('; ')])
    const count = (s: string) => results.filter((r) => r.status === s).length
    const text = () => `${renderTable(['COVERAGE', 'RULE', 'WHY'], rows)}\n${count('covered')} covered, ${count('partial')} partial, ${count('never')} can never fire, ${count('unknown')} unknown\n`
    return { report: { data: results, text }, exitCode, warnings: issues.map(formatIssue) }
  },
})
