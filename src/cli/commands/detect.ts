/**
 * @module `kubetrail detect`: run detection rules over stored events or over log files.
 */
import { resolve } from 'node:path'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { UsageError, formatIssue } from '../../core/errors.js'
import { ALERT_LIST_SCHEMA, renderAlerts } from '../alert-output.js'
import { parseWhen } from '../query-options.js'
import type { Alert } from '../../detect/index.js'
import type { StoreFlags } from '../../store/index.js'

interface DetectOptions extends StoreFlags {
  rules?: string[]
  since?: string
  severity: string
}

const SEVERITY_ORDER = ['info', 'warning', 'high', 'critical']

export default defineCommand<DetectOptions>({
  path: ['detect'],
  summary: 'run detection rules (the built-in pack or --rules) over the store or over audit log files',
  description: 'Without files, reads the store (--since limits how far back). Alerts are printed oldest first; exit 1 when any alert is at or above --severity.',
  args: [{ name: '[files...]', description: 'audit logs to scan instead of the store' }],
  options: [
    { flags: '--rules <path>', description: 'rule files or directories (repeatable; default: the built-in pack)', repeatable: true },
    { flags: '--since <when>', description: 'only events since (24h, 7d, RFC 3339) when reading the store' },
    { flags: '--severity <level>', description: 'lowest severity shown', default: 'info', choices: SEVERITY_ORDER },
    ...STORE_OPTIONS,
  ],
  output: { schema: ALERT_LIST_SCHEMA },
  examples: ['kubetrail detect --since 24h', 'kubetrail detect /var/log/kubernetes/audit/audit.log --severity warning', 'kubetrail detect --rules my-rules/ -o json'],
  async handler(args, opts, ctx) {
    const { BUILTIN_RULES_FILE, Detector, loadRuleFiles } = await import('../../detect/index.js')
    const { rules, issues } = loadRuleFiles(opts.rules?.length ? opts.rules.map((r) => resolve(ctx.cwd, r)) : [BUILTIN_RULES_FILE])
    if (rules.length === 0) throw new UsageError('no valid rules to run', issues.length > 0 ? 'Fix the rule files (kubetrail rules check).' : undefined)
    const detector = new Detector(rules)
    const min = SEVERITY_ORDER.indexOf(opts.severity)
    const alerts: Alert[] = []
    const keep = (a: Alert[]) => {
      for (const x of a) if (SEVERITY_ORDER.indexOf(x.severity) >= min) alerts.push(x)
    }
    if (args.length > 0) {
      const { readAuditLogs } = await import('../../ingest/index.js')
      for await (const batch of readAuditLogs(args.map((a) => (a === '-' ? a : resolve(ctx.cwd, a))), { stdin: ctx.stdin })) for (const r of batch) keep(detector.evaluate(r.fullEvent()))
    } else {
      const { openStore, resolveStore } = await import('../../store/index.js')
      const store = await openStore(resolveStore(opts, ctx.cwd))
      try {
        for await (const s of store.query({ order: 'oldest', since: opts.since ? parseWhen(opts.since, '--since') : undefined })) keep(detector.evaluate(s.event, s.cluster))
      } finally {
        await store.close()
      }
    }
    const warnings = [...issues.map(formatIssue), ...[...detector.evaluationErrors].map(([id, n]) => `rule ${id}: ${n} event(s) where an expression could not be evaluated (a missing field): treated as no match`)]
    const exitCode = alerts.length > 0 ? 1 : 0
    return { report: { data: alerts, text: (wide) => renderAlerts(alerts, wide) }, exitCode, warnings }
  },
})
