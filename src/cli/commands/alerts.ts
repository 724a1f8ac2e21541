/**
 * @module `kubetrail alerts`: the alerts live detection recorded in the data directory.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { defineCommand, DATA_DIR_OPTION } from '../command.js'
import { RECORDED_ALERT_LIST_SCHEMA, renderAlerts } from '../alert-output.js'
import { parseWhen } from '../query-options.js'
import { resolveDataDir } from '../../store/index.js'
import type { Alert } from '../../detect/index.js'

interface AlertsOptions {
  since?: string
  severity: string
  rule?: string
  dataDir?: string
}

const ORDER = ['info', 'warning', 'high', 'critical']

export default defineCommand<AlertsOptions>({
  path: ['alerts'],
  summary: 'alerts raised by live detection in `kubetrail serve` (newest last)',
  args: [],
  options: [
    { flags: '--since <when>', description: 'only alerts since (24h, RFC 3339)' },
    { flags: '--severity <level>', description: 'lowest severity shown', default: 'info', choices: ORDER },
    { flags: '--rule <id>', description: 'only this rule' },
    DATA_DIR_OPTION,
  ],
  output: { schema: RECORDED_ALERT_LIST_SCHEMA },
  examples: ['kubetrail alerts --since 24h --severity high', 'kubetrail alerts -o ndjson'],
  async handler(_args, opts, ctx) {
    const file = join(resolveDataDir(opts.dataDir, ctx.cwd), 'alerts.ndjson')
    const since = opts.since ? parseWhen(opts.since, '--since').toISOString() : undefined
    const seen = new Set<string>()
    const alerts: Array<Alert & { id: string }> = []
    if (existsSync(file))
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue
        let a: Alert & { id: string }
        try {
          a = JSON.parse(line) as Alert & { id: string }
        } catch {
          continue // a line cut by a crash
        }
        if (seen.has(a.id)) continue // raised again after a restart
        seen.add(a.id)
        if (ORDER.indexOf(a.severity) < ORDER.indexOf(opts.severity) || (opts.rule && a.rule !== opts.rule) || (since && a.time < since)) continue
        alerts.push(a)
      }
    return { report: { data: alerts, text: (wide) => renderAlerts(alerts, wide) } }
  },
})
