/**
 * @module kubectl-style filter flags shared by `query`, `who` and `top`, turned into an
 * `EventQuery` (store-side filters) plus the filters that run on each result (source CIDRs).
 */
import { BlockList, isIP } from 'node:net'
import { UsageError } from '../core/errors.js'
import { isLevel, isStage, parseResourceName, type Level, type Stage } from '../model/index.js'
import type { CodeRange, EventQuery, StoredEvent } from '../store/index.js'
import type { OptionSpec } from './command.js'

export interface FilterOptions {
  user?: string[]
  group?: string[]
  verb?: string[]
  resource?: string[]
  apiGroup?: string
  namespace?: string
  name?: string
  code?: string[]
  sourceIp?: string[]
  since?: string
  until?: string
  stage?: string[]
  level?: string[]
  cluster?: string[]
  limit?: string
}

export const FILTER_OPTIONS: OptionSpec[] = [
  { flags: '--user <name>', description: 'authenticated user (repeatable)', repeatable: true },
  { flags: '--group <group>', description: "one of the user's groups (repeatable)", repeatable: true },
  { flags: '--verb <verb>', description: 'verb: get, list, watch, create, update, patch, delete, deletecollection (repeatable)', repeatable: true },
  { flags: '--resource <resource>', description: 'kubectl resource name: pods, deploy, deployments.apps, pods/exec (repeatable)', repeatable: true },
  { flags: '--api-group <group>', description: 'API group ("" = core)' },
  { flags: '-n, --namespace <ns>', description: 'namespace' },
  { flags: '--name <name>', description: 'object name' },
  { flags: '--code <code>', description: 'response code: 401, 4xx, 5xx, 200-299 (repeatable)', repeatable: true },
  { flags: '--source-ip <ip|cidr>', description: 'a source IP or CIDR (repeatable)', repeatable: true },
  { flags: '--since <when>', description: 'from: a duration ago (30m, 24h, 7d) or an RFC 3339 time' },
  { flags: '--until <when>', description: 'until: a duration ago or an RFC 3339 time' },
  { flags: '--stage <stage>', description: 'RequestReceived, ResponseStarted, ResponseComplete, Panic (repeatable)', repeatable: true },
  { flags: '--level <level>', description: 'Metadata, Request, RequestResponse (repeatable)', repeatable: true },
  { flags: '--cluster <name>', description: 'cluster (repeatable)', repeatable: true },
]

const DURATION = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/
const UNIT_MS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3, w: 604_800e3 }

export function parseWhen(text: string, flag: string, now = Date.now()): Date {
  const d = DURATION.exec(text)
  if (d) return new Date(now - Number(d[1]) * UNIT_MS[d[2]!]!)
  const t = Date.parse(text)
  if (/^\d{4}-\d\d-\d\d/.test(text) && !Number.isNaN(t)) return new Date(t)
  throw new UsageError(`${flag} "${text}": use a duration (30m, 24h, 7d) or an RFC 3339 time (2026-06-06T16:00:00Z)`)
}

export function parseDuration(text: string, flag: string): number {
  const d = DURATION.exec(text)
  if (!d) throw new UsageError(`${flag} "${text}": use a duration such as 90d, 24h, 30m`)
  return Number(d[1]) * UNIT_MS[d[2]!]!
}

export function parseCode(text: string): CodeRange {
  let m = /^([1-5])xx$/i.exec(text)
  if (m) return { min: Number(m[1]) * 100, max: Number(m[1]) * 100 + 99 }
  m = /^(\d{3})(?:-(\d{3}))?$/.exec(text)
  if (m) return { min: Number(m[1]), max: Number(m[2] ?? m[1]) }
  throw new UsageError(`--code "${text}": use a code (401), a class (4xx) or a range (200-299)`)
}

function sourceFilter(specs: readonly string[]): ((ips: readonly string[]) => boolean) | undefined {
  if (specs.length === 0) return undefined
  const list = new BlockList()
  for (const spec of specs) {
    const [addr, prefix] = spec.split('/') as [string, string | undefined]
    const family = isIP(addr)
    if (family === 0) throw new UsageError(`--source-ip "${spec}" is not an IP address or CIDR`)
    const type = family === 4 ? 'ipv4' : 'ipv6'
    if (prefix === undefined) list.addAddress(addr, type)
    else {
      const bits = Number(prefix)
      if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) throw new UsageError(`--source-ip "${spec}": bad prefix length`)
      list.addSubnet(addr, bits, type)
    }
  }
  return (ips) => ips.some((ip) => isIP(ip) !== 0 && list.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6'))
}

export interface ParsedFilters {
  query: EventQuery
  /** Filters applied to each stored event after the store's own (none when undefined). */
  accept: ((e: StoredEvent) => boolean) | undefined
}

export function parseFilters(o: FilterOptions): ParsedFilters {
  const stages = (o.stage ?? []).map((s) => {
    if (!isStage(s)) throw new UsageError(`--stage "${s}": one of RequestReceived, ResponseStarted, ResponseComplete, Panic`)
    return s as Stage
  })
  const levels = (o.level ?? []).map((l) => {
    if (!isLevel(l)) throw new UsageError(`--level "${l}": one of None, Metadata, Request, RequestResponse`)
    return l as Level
  })
  const resources = (o.resource ?? []).map((r) => {
    const p = parseResourceName(r)
    const apiGroup = o.apiGroup ?? p.apiGroup
    return { resource: p.resource, ...(apiGroup !== undefined ? { apiGroup } : {}), ...(p.subresource !== undefined ? { subresource: p.subresource } : {}) }
  })
  const limit = o.limit === undefined ? undefined : Number(o.limit)
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new UsageError(`--limit must be a non-negative integer, not "${o.limit}"`)
  const query: EventQuery = {
    ...(o.cluster?.length ? { clusters: o.cluster } : {}),
    ...(o.user?.length ? { users: o.user } : {}),
    ...(o.group?.length ? { groups: o.group } : {}),
    ...(o.verb?.length ? { verbs: o.verb } : {}),
    ...(resources.length ? { resources } : {}),
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.code?.length ? { codes: o.code.map(parseCode) } : {}),
    ...(o.since ? { since: parseWhen(o.since, '--since') } : {}),
    ...(o.until ? { until: parseWhen(o.until, '--until') } : {}),
    ...(stages.length ? { stages } : {}),
    ...(levels.length ? { levels } : {}),
    ...(limit !== undefined ? { limit } : {}),
  }
  if (o.apiGroup !== undefined && resources.length === 0) query.apiGroup = o.apiGroup
  const ips = sourceFilter(o.sourceIp ?? [])
  return { query, accept: ips ? (e) => ips(e.event.sourceIPs ?? []) : undefined }
}
