/**
 * @module Check 10: the apiserver's own audit counters, read from its /metrics twice, the
 * AuditLogError condition computed over the interval (errors / events > 0), requests rejected
 * by a strict log backend, and buffer drops of a batching backend.
 */
import { httpRequest } from '../core/http.js'
import type { Evidence, Finding } from './findings.js'

export interface MetricsSource {
  url: string
  token?: string
  /** PEM CA bundle for the apiserver's certificate. */
  ca?: string
  insecureSkipVerify?: boolean
  /** Between the two scrapes (default 10 s). */
  intervalMs?: number
}

/** Sample values of the audit metrics in a Prometheus text exposition, keyed by name{labels}. */
export function parseAuditSamples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_audit_')) continue
    const m = /^([a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN)/.exec(line)
    if (m) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]))
  }
  return out
}

/** The ClusterConfiguration in kube-system/kubeadm-config, or undefined when it cannot be read. */
export async function fetchKubeadmConfig(src: MetricsSource): Promise<{ source: string; text: string } | undefined> {
  const path = '/api/v1/namespaces/kube-system/configmaps/kubeadm-config'
  try {
    const cm = JSON.parse(await fetchText(src, path)) as { data?: Record<string, string> }
    const text = cm.data?.['ClusterConfiguration']
    return text ? { source: `configmap kube-system/kubeadm-config (${src.url})`, text } : undefined
  } catch {
    return undefined
  }
}

function fetchMetrics(src: MetricsSource): Promise<string> {
  return fetchText(src, '/metrics')
}

async function fetchText(src: MetricsSource, path: string): Promise<string> {
  const r = await httpRequest('GET', new URL(path, src.url), undefined, { token: src.token, ca: src.ca, rejectUnauthorized: !src.insecureSkipVerify }, 10_000)
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 120).trim()}`)
  return r.body
}

const sum = (s: Map<string, number>, prefix: string) => [...s].filter(([k]) => k === prefix || k.startsWith(`${prefix}{`)).reduce((n, [, v]) => n + v, 0)

export async function scrapeAuditMetrics(src: MetricsSource): Promise<Finding[]> {
  let first: Map<string, number>
  let second: Map<string, number>
  try {
    first = parseAuditSamples(await fetchMetrics(src))
    await new Promise((w) => setTimeout(w, src.intervalMs ?? 10_000))
    second = parseAuditSamples(await fetchMetrics(src))
  } catch (error) {
    return [{ id: 'apiserver.metrics', status: 'FAIL', title: `cannot read ${src.url}/metrics: ${(error as Error).message}`, evidence: [{ value: src.url }], fix: 'Give --token-file with a token allowed to GET /metrics (e.g. a ServiceAccount bound to system:monitoring), and --ca-file or --insecure-skip-tls-verify.' }]
  }
  const evidence = (name: string): Evidence => ({ value: `${name}: ${sum(first, name)} → ${sum(second, name)}` })
  const events = sum(second, 'apiserver_audit_event_total') - sum(first, 'apiserver_audit_event_total')
  const errorKeys = [...second.keys()].filter((k) => k.startsWith('apiserver_audit_error_total'))
  const errorsBy = errorKeys.map((k) => ({ key: k, delta: (second.get(k) ?? 0) - (first.get(k) ?? 0), total: second.get(k) ?? 0 }))
  const errors = errorsBy.reduce((n, e) => n + e.delta, 0)
  const out: Finding[] = []
  if (!second.has('apiserver_audit_event_total')) out.push({ id: 'apiserver.events', status: 'WARN', title: 'the apiserver exports no apiserver_audit_event_total: auditing is off, or this is not the apiserver', evidence: [{ value: src.url }] })
  else if (errors > 0)
    out.push({ id: 'apiserver.audit-errors', status: 'FAIL', title: `AuditLogError: ${errors} of ${events} audit events failed to be written during the interval (${((errors / Math.max(events, 1)) * 100).toFixed(1)} %)`, evidence: [evidence('apiserver_audit_event_total'), ...errorsBy.filter((e) => e.delta > 0).map((e) => ({ value: `${e.key}: +${e.delta}` }))], fix: 'Follow docs/runbooks/audit-log-error.md: free space, log file ownership/mode/attributes, the webhook receiver.' })
  else out.push({ id: 'apiserver.audit-errors', status: 'PASS', title: `${events} audit events written during the interval, no errors`, evidence: [evidence('apiserver_audit_event_total'), ...errorsBy.map((e) => ({ value: `${e.key}: ${e.total} (earlier errors)` }))] })
  const rejected = sum(second, 'apiserver_audit_requests_rejected_total') - sum(first, 'apiserver_audit_requests_rejected_total')
  out.push(rejected > 0 ? { id: 'apiserver.rejected', status: 'FAIL', title: `${rejected} requests rejected because they could not be audited (blocking-strict)`, evidence: [evidence('apiserver_audit_requests_rejected_total')], fix: 'docs/runbooks/audit-requests-rejected.md' } : { id: 'apiserver.rejected', status: 'PASS', title: 'no requests rejected for auditing', evidence: [evidence('apiserver_audit_requests_rejected_total')] })
  const buffered = errorsBy.filter((e) => e.key.includes('plugin="buffered"'))
  if (buffered.some((e) => e.total > 0)) out.push({ id: 'apiserver.buffer-drops', status: buffered.some((e) => e.delta > 0) ? 'FAIL' : 'WARN', title: 'the batch buffer dropped events (it was full)', evidence: buffered.map((e) => ({ value: `${e.key}: ${e.total} (+${e.delta})` })), fix: 'Raise --audit-webhook-batch-buffer-size and the throttle (kubetrail webhook-config --expected-rate sizes them), or fix the slow receiver.' })
  return out
}
