/**
 * @module Alerts (from `detect`, `alerts` and the collector's log) in the shared output formats.
 */
import { Type } from '@sinclair/typebox'
import type { Alert } from '../detect/index.js'
import { cleanCell, renderTable } from './output.js'

const ALERT_FIELDS = {
  rule: Type.String(),
  title: Type.String(),
  severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('high'), Type.Literal('critical')]),
  tags: Type.Array(Type.String()),
  output: Type.String({ description: "the rule's output template, filled in from the event" }),
  auditID: Type.String(),
  cluster: Type.Optional(Type.String()),
  time: Type.String(),
  user: Type.String(),
  sourceIPs: Type.Array(Type.String()),
  verb: Type.String(),
  resource: Type.String(),
  namespace: Type.String(),
  name: Type.String(),
  code: Type.Optional(Type.Integer()),
  group: Type.Optional(Type.String()),
  count: Type.Optional(Type.Integer()),
}

/** -o json of `detect`: the alerts, oldest first. */
export const ALERT_LIST_SCHEMA = Type.Array(Type.Object(ALERT_FIELDS, { additionalProperties: false }))
/** -o json of `alerts`: as recorded by the collector, with the alert's stable id. */
export const RECORDED_ALERT_LIST_SCHEMA = Type.Array(Type.Object({ id: Type.String(), ...ALERT_FIELDS }, { additionalProperties: false }))

/** The alert table of `detect` and `alerts`; a count line after it. */
export function renderAlerts(alerts: readonly Alert[], wide: boolean): string {
  if (alerts.length === 0) return 'no alerts\n'
  const columns = ['TIME', 'SEVERITY', ...(wide ? ['CLUSTER'] : []), 'RULE', 'WHAT', ...(wide ? ['USER', 'SOURCE-IPS'] : []), 'AUDIT-ID']
  const rows = alerts.map((a) => [a.time, a.severity.toUpperCase(), ...(wide ? [a.cluster ?? ''] : []), a.rule, a.output, ...(wide ? [a.user, a.sourceIPs.join(',')] : []), a.auditID])
  return `${renderTable(columns, rows)}\n${alerts.length} alert${alerts.length === 1 ? '' : 's'}\n`
}

/** One line for a person watching the collector's log. */
export function alertLine(a: Alert): string {
  return cleanCell(`ALERT ${a.severity.toUpperCase()} ${a.rule}${a.cluster ? ` [${a.cluster}]` : ''}: ${a.output} (user ${a.user}${a.sourceIPs.length ? ` from ${a.sourceIPs.join(',')}` : ''}, auditID ${a.auditID})`)
}
