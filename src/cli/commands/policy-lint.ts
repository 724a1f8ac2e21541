/**
 * @module `kubetrail policy lint POLICY`: what is wrong with a policy that kube-apiserver
 * accepts without a word — dead rules, resources in the wrong API group, secret values in the
 * log, exec rules that miss WebSocket exec, failed logins that are never recorded.
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, KUBERNETES_VERSION_OPTION } from '../command.js'
import { formatIssue } from '../../core/errors.js'
import { lintPolicy, loadPolicyFile, parseKubernetesVersion, PolicyInvalidError } from '../../policy/index.js'

interface LintOptions {
  kubernetesVersion?: string
}

/** -o json: the findings (id from docs/lint-rules.md; "invalid-policy" when the policy does not load). */
const LINT_SCHEMA = Type.Array(
  Type.Object(
    { id: Type.String(), line: Type.Integer({ minimum: 1 }), severity: Type.Union([Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')]), message: Type.String() },
    { additionalProperties: false },
  ),
)

export default defineCommand<LintOptions>({
  path: ['policy', 'lint'],
  summary: 'find problems kube-apiserver accepts silently (dead rules, secrets in logs, missed exec, unaudited failed logins)',
  description:
    'Every finding has a stable id, a line, a severity and the reason. Exit 1 when any finding is an error\n' +
    '(or the policy does not load). Silence a finding on purpose with a comment on or just above the rule:\n' +
    '  # kubetrail:ignore <id> <why>\n' +
    'The ids are listed in docs/lint-rules.md.',
  args: [{ name: '<policy>', description: 'audit policy file' }],
  options: [KUBERNETES_VERSION_OPTION],
  output: { schema: LINT_SCHEMA },
  examples: ['kubetrail policy lint /etc/kubernetes/audit-policy.yaml', 'kubetrail policy lint audit-policy.yaml -o json | jq -r ".[].id"'],
  async handler([file], opts) {
    let loaded
    try {
      loaded = await loadPolicyFile(file!, { kubernetesVersion: parseKubernetesVersion(opts.kubernetesVersion) })
    } catch (error) {
      if (!(error instanceof PolicyInvalidError)) throw error
      const data = error.issues.map((i) => ({ id: 'invalid-policy', line: i.line ?? 1, severity: 'error', message: i.message }))
      return { report: { data, text: () => `${error.issues.map(formatIssue).join('\n')}\n${file}: the policy does not load; fix these first\n` }, exitCode: 1 }
    }
    const findings = lintPolicy(loaded)
    const exitCode = findings.some((f) => f.severity === 'error') ? 1 : 0
    const data = findings.map(({ id, line, severity, message }) => ({ id, line, severity, message }))
    const text = () => {
      if (findings.length === 0) return `${file}: no findings\n`
      const count = (s: string) => findings.filter((f) => f.severity === s).length
      const lines = findings.map((f) => `${file}:${f.line}: ${f.severity} ${f.id}: ${f.message}`)
      lines.push(`${file}: ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} info`)
      return lines.join('\n') + '\n'
    }
    return { report: { data, text }, exitCode }
  },
})
