/**
 * @module `EventQuery` → a SQL WHERE clause over the flattened columns, with bound parameters
 * (never string-built values).
 */
import type { EventQuery, TopField } from '../types.js'

/** The private, loopback, link-local, CGNAT and unspecified IPv4 prefixes, as a regular expression (shared with the `source_external` column). */
export const PRIVATE_IPV4_PREFIX = String.raw`^(0|10|127|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])|169\.254|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.`

export type SqlParam = string | number

function micro(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '')
}

/** `perRequest`: keeps each request's latest-stage event among the matching ones (after WHERE, before ORDER BY). */
export function perRequestClause(q: EventQuery): string {
  if (!q.perRequest) return ''
  return ` QUALIFY row_number() OVER (PARTITION BY "cluster", audit_id, request_received_at ORDER BY CASE stage WHEN 'ResponseComplete' THEN 3 WHEN 'Panic' THEN 3 WHEN 'ResponseStarted' THEN 2 ELSE 1 END DESC, stage_at DESC) = 1`
}

export function buildWhere(q: EventQuery): { where: string; params: SqlParam[] } {
  const { condition, params } = buildCondition(q)
  return { where: condition === 'true' ? '' : `WHERE ${condition}`, params }
}

/** The query's filters as one SQL condition ('true' when there are none), with bound parameters. */
export function buildCondition(q: EventQuery): { condition: string; params: SqlParam[] } {
  const params: SqlParam[] = []
  const parts = conditions(q, params)
  return { condition: parts.length > 0 ? parts.join(' AND ') : 'true', params }
}

/** The conditions of one query; an empty list given for a field means nothing can match. */
function conditions(q: EventQuery, params: SqlParam[]): string[] {
  const parts: string[] = []
  const placeholder = (v: SqlParam) => {
    params.push(v)
    return `$${params.length}`
  }
  const anyOf = (column: string, values: readonly SqlParam[] | undefined) => {
    if (values && values.length === 0) parts.push('false')
    else if (values) parts.push(`${column} IN (${values.map(placeholder).join(', ')})`)
  }
  anyOf('"cluster"', q.clusters)
  anyOf('username', q.users)
  anyOf('verb', q.verbs)
  anyOf('stage', q.stages)
  anyOf('level', q.levels)
  if (q.groups && q.groups.length === 0) parts.push('false')
  if (q.groups && q.groups.length > 0) parts.push(`list_has_any(user_groups, [${q.groups.map(placeholder).join(', ')}]::VARCHAR[])`)
  if (q.resources && q.resources.length === 0) parts.push('false')
  if (q.resources && q.resources.length > 0) {
    const alternatives = q.resources.map((r) => {
      const c = r.resource === '*' ? ['true'] : [`resource = ${placeholder(r.resource)}`]
      if (r.apiGroup !== undefined) c.push(`api_group = ${placeholder(r.apiGroup)}`)
      if (r.subresource !== undefined) c.push(`subresource = ${placeholder(r.subresource)}`)
      return `(${c.join(' AND ')})`
    })
    parts.push(`(${alternatives.join(' OR ')})`)
  }
  if (q.apiGroup !== undefined) parts.push(`api_group = ${placeholder(q.apiGroup)}`)
  if (q.namespace !== undefined) parts.push(`"namespace" = ${placeholder(q.namespace)}`)
  if (q.name !== undefined) parts.push(`"name" = ${placeholder(q.name)}`)
  if (q.codes && q.codes.length === 0) parts.push('false')
  if (q.codes && q.codes.length > 0) parts.push(`(${q.codes.map((c) => `code BETWEEN ${placeholder(c.min)} AND ${placeholder(c.max)}`).join(' OR ')})`)
  if (q.since) parts.push(`request_received_at >= CAST(${placeholder(micro(q.since))} AS TIMESTAMP)`)
  if (q.until) parts.push(`request_received_at < CAST(${placeholder(micro(q.until))} AS TIMESTAMP)`)
  if (q.uriContains !== undefined) parts.push(`contains(request_uri, ${placeholder(q.uriContains)})`)
  // enrichment columns, computed when the event was stored
  if (q.sourceExternal !== undefined) parts.push(q.sourceExternal ? 'source_external' : 'NOT source_external')
  if (q.privilegedPod !== undefined) parts.push(q.privilegedPod ? 'privileged_pod' : 'NOT privileged_pod')
  if (q.authFailed !== undefined) parts.push(q.authFailed ? 'auth_failed' : 'NOT auth_failed')
  if (q.eventContainsAny && q.eventContainsAny.length === 0) parts.push('false')
  if (q.eventContainsAny && q.eventContainsAny.length > 0) parts.push(`(${q.eventContainsAny.map((s) => `contains(event, ${placeholder(s)})`).join(' OR ')})`)
  if (q.userPrefix !== undefined) parts.push(`starts_with(username, ${placeholder(q.userPrefix)})`)
  if (q.anyOf) {
    const alternatives = q.anyOf.map((sub) => conditions(sub, params)).map((c) => (c.length === 0 ? 'true' : `(${c.join(' AND ')})`))
    parts.push(alternatives.length === 0 ? 'false' : `(${alternatives.join(' OR ')})`)
  }
  return parts
}

/** The value `top --by FIELD` counts, over the stored columns. */
export const TOP_EXPR: Record<TopField, string> = {
  user: "coalesce(username, '(unauthenticated)')",
  verb: 'verb',
  resource: "CASE WHEN resource = '' THEN split_part(request_uri, '?', 1) ELSE resource || CASE WHEN subresource <> '' THEN '/' || subresource ELSE '' END || CASE WHEN api_group <> '' THEN '.' || api_group ELSE '' END END",
  endpoint: 'request_uri',
  'source-ip': 'unnest(source_ips)',
  code: "coalesce(CAST(code AS VARCHAR), '(none)')",
  'user-agent': "coalesce(user_agent, '')",
  namespace: '"namespace"',
  cluster: '"cluster"',
}
