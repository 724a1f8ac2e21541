/**
 * @module Where alerts go: a JSON log line, a generic webhook, a Slack-compatible webhook, and
 * the Alertmanager v2 API. Each sink has its own bounded queue and retries with backoff on its
 * own schedule, so a slow or failing sink never blocks ingestion or the other sinks.
 */
import { createHash } from 'node:crypto'
import { post } from '../core/http.js'
import type { Alert } from './engine.js'

export interface AlertSink {
  name: string
  send(alerts: readonly Alert[]): Promise<void>
}

/** Stable identity of an alert: the same rule on the same request is the same alert. */
export function alertId(a: Alert): string {
  return createHash('sha256').update(`${a.cluster ?? ''}\u0000${a.rule}\u0000${a.auditID}`).digest('hex').slice(0, 16)
}

async function postJson(url: string, body: unknown): Promise<void> {
  const r = await post(new URL(url), JSON.stringify(body), {}, 10_000)
  if (r.status < 200 || r.status >= 300) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`)
}

export function webhookSink(url: string): AlertSink {
  return { name: 'webhook', send: (alerts) => postJson(url, { alerts: alerts.map((a) => ({ id: alertId(a), ...a })) }) }
}

export function slackSink(url: string): AlertSink {
  const icon: Record<string, string> = { info: ':information_source:', warning: ':warning:', high: ':rotating_light:', critical: ':fire:' }
  return {
    name: 'slack',
    send: async (alerts) => {
      for (const a of alerts) await postJson(url, { text: `${icon[a.severity] ?? ''} *${a.title}* (${a.severity}) ${a.cluster ? `[${a.cluster}] ` : ''}${a.output}\nrule \`${a.rule}\`, auditID \`${a.auditID}\`, ${a.time}` })
    },
  }
}

/** Alertmanager v2: POST /api/v2/alerts; identical label sets are one alert there too. */
export function alertmanagerSink(baseUrl: string): AlertSink {
  const url = new URL('api/v2/alerts', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString()
  return {
    name: 'alertmanager',
    send: (alerts) =>
      postJson(
        url,
        alerts.map((a) => ({
          labels: { alertname: a.title.replace(/[^A-Za-z0-9]+/g, ''), rule: a.rule, severity: a.severity, cluster: a.cluster ?? 'default', alert_id: alertId(a), source: 'kubetrail' },
          annotations: { summary: a.title, description: a.output, audit_id: a.auditID, user: a.user, tags: a.tags.join(',') },
          startsAt: new Date(Date.parse(a.time) || Date.now()).toISOString(),
        })),
      ),
  }
}

export interface DispatcherOptions {
  /** Per sink; beyond it the oldest alerts are dropped (and counted). */
  maxQueue?: number
  initialBackoffMs?: number
  maxBackoffMs?: number
  onError?: (sink: string, error: Error) => void
  onDrop?: (sink: string, n: number) => void
}

/** Fans alerts out to sinks; `push` never waits. */
export class AlertDispatcher {
  private readonly queues: Map<string, { sink: AlertSink; queue: Alert[]; backoff: number; busy: boolean; timer?: NodeJS.Timeout }>
  private stopped = false
  private stopping = false

  constructor(
    sinks: readonly AlertSink[],
    private readonly options: DispatcherOptions = {},
  ) {
    // keyed by position: two sinks of one kind (two webhooks) are separate queues
    this.queues = new Map(sinks.map((sink, i) => [`${i}:${sink.name}`, { sink, queue: [], backoff: options.initialBackoffMs ?? 1000, busy: false }]))
  }

  push(alerts: readonly Alert[]): void {
    if (alerts.length === 0 || this.stopped) return
    for (const [key, q] of this.queues) {
      q.queue.push(...alerts)
      const max = this.options.maxQueue ?? 10_000
      if (q.queue.length > max) this.options.onDrop?.(q.sink.name, q.queue.splice(0, q.queue.length - max).length)
      if (!q.busy && !q.timer) void this.drain(key)
    }
  }

  private async drain(key: string): Promise<void> {
    const q = this.queues.get(key)!
    const name = q.sink.name
    q.busy = true
    try {
      while (q.queue.length > 0 && !this.stopped) {
        const batch = q.queue.slice(0, 100)
        try {
          await q.sink.send(batch)
          q.queue.splice(0, batch.length)
          q.backoff = this.options.initialBackoffMs ?? 1000
        } catch (error) {
          this.options.onError?.(name, error as Error)
          if (this.stopping) return
          q.timer = setTimeout(() => {
            q.timer = undefined
            void this.drain(key)
          }, q.backoff)
          q.backoff = Math.min(q.backoff * 2, this.options.maxBackoffMs ?? 60_000)
          return
        }
      }
    } finally {
      q.busy = false
    }
  }

  /** Alerts still waiting per sink (tests, metrics). */
  pending(): Record<string, number> {
    return Object.fromEntries([...this.queues].map(([n, q]) => [n, q.queue.length]))
  }

  /** Tries once more to deliver what is queued (bounded by `timeoutMs`), then stops. */
  async stop(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    this.stopping = true
    for (const q of this.queues.values()) {
      clearTimeout(q.timer)
      q.timer = undefined
    }
    while (Date.now() < deadline && [...this.queues.values()].some((q) => q.queue.length > 0)) {
      const before = [...this.queues.values()].reduce((n, q) => n + q.queue.length, 0)
      for (const [name, q] of this.queues) if (!q.busy && q.queue.length > 0) await Promise.race([this.drain(name), new Promise((w) => setTimeout(w, Math.max(0, deadline - Date.now())))])
      if ([...this.queues.values()].reduce((n, q) => n + q.queue.length, 0) >= before) break // a sink is down: give up
      await new Promise((w) => setTimeout(w, 50))
    }
    this.stopped = true
  }
}
