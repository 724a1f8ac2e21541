/**
 * @module `kubetrail policy lint POLICY`: what is wrong with a policy that kube-apiserver
 * accepts without a word — dead rules, resources in the wrong API group, secret values in the
 * log, exec rules that miss WebSocket exec, failed logins that are never recorded.
 */
import { defineCommand, KUBERNETES_VERSION_OPTION } from '../command.js'
import { formatIssue } from '../../core/errors.js'
import { lintPolicy, loadPolicyFile, parseKubernetesVersion, PolicyInvalidError } from '../../policy/index.js'

interface LintOptions {
  json?: boolean
  kubernetesVersion?: string
}

export default defineCommand<LintOptions>({
  path: ['policy', 'lint'],
  summary: 'find problems kube-apiserver accepts silently (dead rules, secrets in logs, missed exec, unaudited failed logins)',
  description:
    'Every finding has a stable id, a line, a severity and the reason. Exit 1 when any finding is an error\n' +
    '(or the policy does not load). Silence a finding on purpose with a comment on or just above the rule:\n' +
    '  # kubetrail:ignore <id> <why>\n' +
    'The ids are listed in docs/lint-rules.md.',
  args: [{ name: '<policy>', description: 'audit policy file' }],
  options: [{ flags: '--json', description: 'print an array of {"id", "line", "severity", "message"}' }, KUBERNETES_VERSION_OPTION],
  examples: ['kubetrail policy lint /etc/kubernetes/audit-policy.yaml', 'kubetrail policy lint audit-policy.yaml --json | jq -r ".[].id"'],
  async handler([file], opts) {
    let loaded
    try {
      loaded = await loadPolicyFile(file!, { kubernetesVersion: parseKubernetesVersion(opts.kubernetesVersion) })
    } catch (error) {
      if (!(error instanceof PolicyInvalidError)) throw error
      if (opts.json) return { output: JSON.stringify(error.issues.map((i) => ({ id: 'invalid-policy', line: i.line ?? 1, severity: 'error', message: i.message }))) + '\n', exitCode: 1 }
      return { output: `${error.issues.map(formatIssue).join('\n')}\n${file}: the policy does not load; fix these first\n`, exitCode: 1 }
    }
    const findings = lintPolicy(loaded)
    const exitCode = findings.some((f) => f.severity === 'error') ? 1 : 0
    if (opts.json) return { output: JSON.stringify(findings.map(({ id, line, severity, message }) => ({ id, line, severity, message }))) + '\n', exitCode }
    if (findings.length === 0) return { output: `${file}: no findings\n` }
    const count = (s: string) => findings.filter((f) => f.severity === s).length
    const lines = findings.map((f) => `${file}:${f.line}: ${f.severity} ${f.id}: ${f.message}`)
    lines.push(`${file}: ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} info`)
    return { output: lines.join('\n') + '\n', exitCode }
  },
})
