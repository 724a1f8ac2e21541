/**
 * @module Running rules over events: per-event conditions, exceptions, rate and sequence
 * windows (N events per group in a window, or N distinct values), and one alert per request
 * per rule (a request's ResponseStarted and ResponseComplete events do not alert twice).
 */
import type { AuditEvent } from '../model/index.js'
import { celContext } from './cel-env.js'
import type { Rule, Severity } from './rules.js'
import { prefilterFor } from './prefilter.js'

export interface Alert {
  rule: string
  title: string
  severity: Severity
  tags: string[]
  /** The rule's output template, filled in. */
  output: string
  /** The event that raised it (for rate rules: the one that crossed the threshold). */
  auditID: string
  cluster?: string
  time: string
  user: string
  sourceIPs: string[]
  verb: string
  resource: string
  namespace: string
  name: string
  code?: number
  /** Rate rules: the group and how many events (or distinct values) were seen in the window. */
  group?: string
  count?: number
}

const truthy = (v: unknown) => v === true

function render(parts: Rule['compiled']['output'], ctx: Record<string, unknown>): string {
  return parts
    .map((p) => {
      if (typeof p === 'string') return p
      try {
        const v = p(ctx)
        return typeof v === 'bigint' ? v.toString() : Array.isArray(v) ? v.join(',') : String(v ?? '')
      } catch {
        return '<missing>'
      }
    })
    .join('')
}

function excepted(rule: Rule, e: AuditEvent, ctx: Record<string, unknown>): boolean {
  const ex = rule.exceptions
  const user = e.user?.username ?? ''
  if (ex.users.some((u) => (u.endsWith('*') ? user.startsWith(u.slice(0, -1)) : u === user))) return true
  if (ex.groups.length > 0 && (e.user?.groups ?? []).some((g) => ex.groups.includes(g))) return true
  if (ex.namespaces.includes(e.objectRef?.namespace ?? '')) return true
  if (rule.compiled.exception) {
    try {
      return truthy(rule.compiled.exception(ctx))
    } catch {
      return false
    }
  }
  return false
}

/** A set that forgets its oldest half when full: memory stays bounded however long it runs. */
class RecentKeys {
  private readonly keys = new Set<string>()
  constructor(private readonly max: number) {}

  has(key: string): boolean {
    return this.keys.has(key)
  }

  add(key: string): void {
    this.keys.add(key)
    if (this.keys.size > this.max) for (const k of [...this.keys].slice(0, this.max / 2)) this.keys.delete(k)
  }
}

interface Window {
  times: number[]
  values: string[]
}

export class Detector {
  /** Failures of a rule's expressions on some event (a missing field): counted, never thrown. */
  readonly evaluationErrors = new Map<string, number>()
  /** (rule, request) pairs that alerted, and that a rate window has counted. */
  private readonly alerted = new RecentKeys(100_000)
  private readonly windows = new Map<string, Window>()
  private readonly counted = new RecentKeys(200_000)

  private readonly prefilters: Array<((e: AuditEvent) => boolean) | undefined>
  /** Rule indices by the stage they look at: most rules skip most stages without a test. */
  private readonly byStage = new Map<string, number[]>()

  /** `prefilter: false` runs every condition through CEL (tests compare the two). */
  constructor(
    readonly rules: readonly Rule[],
    options: { prefilter?: boolean } = {},
  ) {
    this.prefilters = rules.map((r) => (options.prefilter === false ? undefined : prefilterFor(r.condition)))
    rules.forEach((r, i) => {
      for (const s of r.requires.stages) this.byStage.set(s, [...(this.byStage.get(s) ?? []), i])
    })
  }

  private failed(rule: Rule): void {
    this.evaluationErrors.set(rule.id, (this.evaluationErrors.get(rule.id) ?? 0) + 1)
  }

  /** The alerts this event raises (usually none). */
  evaluate(e: AuditEvent, cluster?: string): Alert[] {
    let ctx: Record<string, unknown> | undefined
    const out: Alert[] = []
    for (const i of this.byStage.get(e.stage) ?? []) {
      const rule = this.rules[i]!
      const pre = this.prefilters[i]
      if (pre !== undefined && !pre(e)) continue
      ctx ??= celContext(e)
      let matched: unknown
      try {
        matched = rule.compiled.condition(ctx)
      } catch {
        this.failed(rule)
        continue
      }
      if (!truthy(matched) || excepted(rule, e, ctx)) continue
      const key = `${rule.id}\u0000${e.auditID}`
      if (this.alerted.has(key)) continue
      let group: string | undefined
      let count: number | undefined
      if (rule.rate) {
        const r = this.rate(rule, e, ctx, key)
        if (!r) continue
        ;({ group, count } = r)
      }
      this.alerted.add(key)
      out.push({
        rule: rule.id,
        title: rule.title,
        severity: rule.severity,
        tags: rule.tags,
        output: render(rule.compiled.output, ctx),
        auditID: e.auditID,
        cluster,
        time: e.stageTimestamp,
        user: e.user?.username ?? '',
        sourceIPs: e.sourceIPs ?? [],
        verb: e.verb,
        resource: [e.objectRef?.resource, e.objectRef?.subresource].filter(Boolean).join('/'),
        namespace: e.objectRef?.namespace ?? '',
        name: e.objectRef?.name ?? '',
        code: e.responseStatus?.code,
        group,
        count,
      })
    }
    return out
  }

  /** Slides the rule's window for this event's group; fires (and resets the group) at the threshold. */
  private rate(rule: Rule, e: AuditEvent, ctx: Record<string, unknown>, request: string): { group: string; count: number } | undefined {
    const rate = rule.rate!
    let group = ''
    let value = e.auditID
    try {
      if (rule.compiled.groupBy) group = String(rule.compiled.groupBy(ctx))
      if (rule.compiled.distinct) value = String(rule.compiled.distinct(ctx))
    } catch {
      this.failed(rule)
      return undefined
    }
    // a request counts once: its several stages, and the sender's retries of the same events
    if (this.counted.has(request)) return undefined
    this.counted.add(request)
    const now = Date.parse(e.stageTimestamp)
    const key = `${rule.id}\u0000${group}`
    const w = this.windows.get(key) ?? { times: [], values: [] }
    w.times.push(now)
    w.values.push(value)
    while (w.times.length > 0 && w.times[0]! < now - rate.windowMs) {
      w.times.shift()
      w.values.shift()
    }
    this.windows.set(key, w)
    const count = rule.compiled.distinct ? new Set(w.values).size : w.times.length
    if (count < rate.count) return undefined
    this.windows.delete(key)
    return { group, count }
  }
}
