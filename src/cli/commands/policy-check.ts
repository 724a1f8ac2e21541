/**
 * @module `kubetrail policy check POLICY`: will kube-apiserver accept this policy, and does it
 * say what its author meant? Every problem is listed with its line and column.
 */
import { Type } from '@sinclair/typebox'
import { defineCommand, KUBERNETES_VERSION_OPTION } from '../command.js'
import { ISSUE_SCHEMA } from '../schemas.js'
import { formatIssue } from '../../core/errors.js'
import { formatKubernetesVersion, loadPolicyFile, parseKubernetesVersion, PolicyInvalidError } from '../../policy/index.js'

interface CheckOptions {
  kubernetesVersion?: string
}

/** -o json: whether the apiserver (and kubetrail) accept the policy, every error and warning. */
const CHECK_SCHEMA = Type.Object({ valid: Type.Boolean(), errors: Type.Array(ISSUE_SCHEMA), warnings: Type.Array(ISSUE_SCHEMA) }, { additionalProperties: false })

export default defineCommand<CheckOptions>({
  path: ['policy', 'check'],
  summary: 'check that kube-apiserver will accept an audit policy (every error with line:column)',
  description:
    'Exit 0 when the policy is valid, 1 otherwise. Besides what the apiserver rejects, unknown or\n' +
    'mis-indented fields and duplicate keys are errors: the apiserver silently drops them, which\n' +
    'quietly changes what a rule matches.',
  args: [{ name: '<policy>', description: 'audit policy file (audit.k8s.io/v1 Policy YAML)' }],
  options: [KUBERNETES_VERSION_OPTION],
  output: { schema: CHECK_SCHEMA },
  examples: ['kubetrail policy check /etc/kubernetes/audit-policy.yaml', 'kubetrail policy check audit-policy.yaml --kubernetes-version 1.22'],
  async handler([file], opts) {
    const version = parseKubernetesVersion(opts.kubernetesVersion)
    try {
      const loaded = await loadPolicyFile(file!, { kubernetesVersion: version })
      const levels = [...new Set(loaded.rules.map((r) => r.level))].join(', ')
      const text = () => `${file}: valid audit policy for Kubernetes ${formatKubernetesVersion(version)} (${loaded.rules.length} rules; levels: ${levels})\n`
      return { report: { data: { valid: true, errors: [], warnings: loaded.warnings }, text }, warnings: loaded.warnings.map((w) => `warning: ${formatIssue(w)}`) }
    } catch (error) {
      if (!(error instanceof PolicyInvalidError)) throw error
      const n = error.issues.length
      const text = () => `${error.issues.map(formatIssue).join('\n')}\n${file}: ${n} error${n === 1 ? '' : 's'}\n`
      return { report: { data: { valid: false, errors: error.issues, warnings: [] }, text }, exitCode: 1 }
    }
  },
})
