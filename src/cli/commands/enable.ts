/**
 * @module `kubetrail enable` and `kubetrail disable`: turn auditing on or off in the
 * kube-apiserver static pod manifest, safely (validated policy, backup outside the manifests
 * directory, kubeadm-config kept in step, idempotent, --dry-run shows the diff).
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { defineCommand, KUBERNETES_VERSION_OPTION } from '../command.js'
import { formatIssue, UsageError } from '../../core/errors.js'
import type { ChangeReport } from '../../doctor/index.js'

interface EnableCliOptions {
  policy?: string
  logPath?: string
  webhookConfig?: string
  root: string
  manifests: string
  kubeadmConfig?: string
  dryRun?: boolean
  kubernetesVersion?: string
}

const NODE_OPTIONS = [
  { flags: '--root <dir>', description: "the node's file system root", default: '/' },
  { flags: '--manifests <dir>', description: "kubelet's static pod directory on the node", default: '/etc/kubernetes/manifests' },
  { flags: '--kubeadm-config <file>', description: 'a kubeadm ClusterConfiguration file on the node to update (default: /etc/kubernetes/kubeadm-config.yaml if present)' },
  { flags: '--dry-run', description: 'print the unified diff, change nothing' },
]

/** -o json of enable and disable: the ChangeReport. */
const CHANGE_SCHEMA = Type.Object(
  {
    changed: Type.Boolean(),
    diff: Type.String({ description: 'unified diff of the manifest (and kubeadm file)' }),
    backup: Type.Optional(Type.String()),
    written: Type.Array(Type.String()),
    kubeadmPatch: Type.Optional(Type.String()),
    messages: Type.Array(Type.String()),
  },
  { additionalProperties: false },
)

function render(report: ChangeReport, dryRun: boolean | undefined, verb: string): string {
  const out: string[] = []
  if (!report.changed && report.diff === '') out.push(`nothing to change: auditing is already ${verb === 'enable' ? 'enabled as asked' : 'disabled'}`)
  if (dryRun && report.diff) out.push(report.diff.trimEnd(), '', '(dry run: nothing was changed)')
  if (!dryRun) {
    for (const w of report.written) out.push(`wrote ${w}`)
    if (report.backup) out.push(`backup of the previous manifest: ${report.backup} (outside the manifests directory: kubelet runs every file in it)`)
    if (report.changed) out.push('kubelet restarts the apiserver within about a minute; then run `kubetrail doctor` to check that the running process has the new flags.')
  }
  out.push(...report.messages)
  if (report.kubeadmPatch) out.push('', 'kubeadm ClusterConfiguration patch (keeps the flags across kubeadm upgrade):', report.kubeadmPatch.trimEnd())
  return out.join('\n') + '\n'
}

export const enableCommand = defineCommand<EnableCliOptions>({
  path: ['enable'],
  summary: 'turn on auditing in the kube-apiserver static pod manifest (flags, volumes, mounts, policy file, log directory)',
  description: 'Refuses to edit a manifest directory holding a second kube-apiserver manifest (the seeds\' incident). A second run changes nothing.',
  args: [],
  options: [
    { flags: '--policy <file>', description: 'the audit policy to install (checked and linted first)' },
    { flags: '--log-path <path>', description: 'log backend: audit.log path on the node, e.g. /var/log/kubernetes/audit/audit.log' },
    { flags: '--webhook-config <file>', description: 'webhook backend: the kubeconfig from `kubetrail webhook-config`' },
    ...NODE_OPTIONS,
    KUBERNETES_VERSION_OPTION,
  ],
  output: { schema: CHANGE_SCHEMA },
  examples: ['sudo kubetrail enable --policy policy.yaml --log-path /var/log/kubernetes/audit/audit.log --dry-run', 'sudo kubetrail enable --policy policy.yaml --webhook-config webhook.kubeconfig'],
  async handler(_args, opts, ctx) {
    if (!opts.policy) throw new UsageError('--policy is required')
    if (!opts.logPath && !opts.webhookConfig) throw new UsageError('give a backend: --log-path PATH and/or --webhook-config FILE')
    const { loadPolicyFile, lintPolicy, parseKubernetesVersion } = await import('../../policy/index.js')
    const policyPath = resolve(ctx.cwd, opts.policy)
    const loaded = await loadPolicyFile(policyPath, { kubernetesVersion: opts.kubernetesVersion ? parseKubernetesVersion(opts.kubernetesVersion) : undefined })
    const warnings = lintPolicy(loaded).map((f) => `${formatIssue({ file: policyPath, line: f.line, message: `${f.severity} ${f.id}: ${f.message}` })}`)
    const { enableAudit } = await import('../../doctor/index.js')
    const report = enableAudit({
      root: resolve(ctx.cwd, opts.root),
      manifestsDir: opts.manifests,
      policyText: readFileSync(policyPath, 'utf8'),
      logPath: opts.logPath,
      webhookConfigText: opts.webhookConfig ? readFileSync(resolve(ctx.cwd, opts.webhookConfig), 'utf8') : undefined,
      kubeadmConfig: opts.kubeadmConfig,
      dryRun: opts.dryRun,
    })
    return { report: { data: report, text: () => render(report, opts.dryRun, 'enable') }, warnings: warnings.length > 0 ? [`policy lint (${warnings.length}):`, ...warnings] : undefined }
  },
})

export const disableCommand = defineCommand<EnableCliOptions>({
  path: ['disable'],
  summary: 'turn off auditing: remove the --audit-* flags and kubetrail\'s volumes from the kube-apiserver manifest',
  description: 'The policy file and the logs stay on disk. The previous manifest is backed up outside the manifests directory.',
  args: [],
  options: NODE_OPTIONS,
  output: { schema: CHANGE_SCHEMA },
  examples: ['sudo kubetrail disable --dry-run'],
  async handler(_args, opts, ctx) {
    const { disableAudit } = await import('../../doctor/index.js')
    const report = disableAudit({ root: resolve(ctx.cwd, opts.root), manifestsDir: opts.manifests, kubeadmConfig: opts.kubeadmConfig, dryRun: opts.dryRun })
    return { report: { data: report, text: () => render(report, opts.dryRun, 'disable') } }
  },
})

export default enableCommand
