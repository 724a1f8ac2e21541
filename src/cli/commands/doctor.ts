/**
 * @module `kubetrail doctor`: check a control-plane node's audit setup the way the runbooks do.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { defineCommand } from '../command.js'
import { UsageError } from '../../core/errors.js'
import type { Finding } from '../../doctor/index.js'

interface DoctorCliOptions {
  root: string
  manifests: string
  kubeadmConfig?: string
  apiserver?: string
  tokenFile?: string
  caFile?: string
  insecureSkipTlsVerify?: boolean
  interval: string
}

/** -o json: the findings, and the exit code they make. */
const DOCTOR_SCHEMA = Type.Object(
  {
    findings: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          status: Type.Union(['PASS', 'SKIP', 'WARN', 'FAIL'].map((s) => Type.Literal(s))),
          title: Type.String(),
          evidence: Type.Array(Type.Object({ file: Type.Optional(Type.String()), line: Type.Optional(Type.Integer()), value: Type.Optional(Type.String()) }, { additionalProperties: false })),
          fix: Type.Optional(Type.String()),
          refs: Type.Optional(Type.Array(Type.String())),
        },
        { additionalProperties: false },
      ),
    ),
    exitCode: Type.Integer(),
  },
  { additionalProperties: false },
)

export function renderFindings(findings: readonly Finding[]): string {
  const lines: string[] = []
  for (const f of findings) {
    lines.push(`${f.status.padEnd(4)}  ${f.id}  ${f.title}${f.refs?.length ? ` [${f.refs.join(', ')}]` : ''}`)
    for (const e of f.evidence) {
      const where = e.file ? `${e.file}${e.line ? `:${e.line}` : ''}` : ''
      if (where || e.value) lines.push(`      ${[where, e.value].filter(Boolean).join('  ')}`)
    }
    if (f.fix && f.status !== 'PASS') lines.push(`      fix: ${f.fix}`)
  }
  const count = (s: string) => findings.filter((f) => f.status === s).length
  lines.push('', `${count('PASS')} passed, ${count('WARN')} warnings, ${count('FAIL')} failed, ${count('SKIP')} skipped`)
  return lines.join('\n') + '\n'
}

export default defineCommand<DoctorCliOptions>({
  path: ['doctor'],
  summary: "check a control-plane node's audit setup: flags, policy, mounts, permissions, space, stray manifests, the running process",
  description:
    'Each check prints PASS/WARN/FAIL/SKIP, the evidence (file:line and value) and the fix. --root inspects a mounted\n' +
    'node disk or a copy. Exit code: 0 all passed, 1 a warning, 2 a failure.',
  args: [],
  options: [
    { flags: '--root <dir>', description: 'the node\'s file system root', default: '/' },
    { flags: '--manifests <dir>', description: "kubelet's static pod directory on the node", default: '/etc/kubernetes/manifests' },
    { flags: '--kubeadm-config <file>', description: 'a kubeadm ClusterConfiguration file on the node (default: look in /etc/kubernetes)' },
    { flags: '--apiserver <url>', description: "read the apiserver's audit metrics twice (the AuditLogError condition)" },
    { flags: '--token-file <file>', description: 'bearer token for --apiserver' },
    { flags: '--ca-file <file>', description: "CA of the apiserver's certificate" },
    { flags: '--insecure-skip-tls-verify', description: "do not verify the apiserver's certificate" },
    { flags: '--interval <seconds>', description: 'time between the two metrics scrapes', default: '10' },
  ],
  output: { schema: DOCTOR_SCHEMA },
  examples: ['sudo kubetrail doctor', 'kubetrail doctor --root /mnt/node-disk', 'kubetrail doctor --apiserver https://10.0.0.1:6443 --token-file token --insecure-skip-tls-verify'],
  async handler(_args, opts, ctx) {
    const interval = Number(opts.interval)
    if (!Number.isFinite(interval) || interval < 0) throw new UsageError(`--interval must be a number of seconds, not "${opts.interval}"`)
    const { runDoctor } = await import('../../doctor/index.js')
    const report = await runDoctor({
      root: resolve(ctx.cwd, opts.root),
      manifestsDir: opts.manifests,
      kubeadmConfig: opts.kubeadmConfig,
      apiserver: opts.apiserver
        ? {
            url: opts.apiserver,
            token: opts.tokenFile ? readFileSync(resolve(ctx.cwd, opts.tokenFile), 'utf8').trim() : undefined,
            ca: opts.caFile ? readFileSync(resolve(ctx.cwd, opts.caFile), 'utf8') : undefined,
            insecureSkipVerify: opts.insecureSkipTlsVerify,
            intervalMs: interval * 1000,
          }
        : undefined,
    })
    return { report: { data: report, text: () => renderFindings(report.findings) }, exitCode: report.exitCode }
  },
})
