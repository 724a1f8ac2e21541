/**
 * @module Rendering stored events: `-o table|wide|json|ndjson|csv`, as a stream of text chunks.
 */
import type { AuditEvent } from '../model/index.js'
import type { StoredEvent } from '../store/index.js'
import { table } from './format.js'

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'ndjson', 'csv'] as const
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]

function resourceOf(e: AuditEvent): string {
  const r = e.objectRef
  if (!r?.resource) return e.requestURI.split('?', 1)[0] ?? ''
  const res = r.subresource ? `${r.resource}/${r.subresource}` : r.resource
  return r.apiGroup ? `${res}.${r.apiGroup}` : res
}

function userOf(e: AuditEvent): string {
  const u = e.user.username ?? '(unauthenticated)'
  return e.impersonatedUser?.username ? `${u} as ${e.impersonatedUser.username}` : u
}

const NARROW: Array<[string, (s: StoredEvent) => string]> = [
  ['TIME', (s) => s.event.requestReceivedTimestamp],
  ['USER', (s) => userOf(s.event)],
  ['VERB', (s) => s.event.verb],
  ['RESOURCE', (s) => resourceOf(s.event)],
  ['NAMESPACE', (s) => s.event.objectRef?.namespace ?? ''],
  ['NAME', (s) => s.event.objectRef?.name ?? ''],
  ['CODE', (s) => String(s.event.responseStatus?.code ?? '')],
  ['STAGE', (s) => s.event.stage],
]
const WIDE: Array<[string, (s: StoredEvent) => string]> = [
  ...NARROW,
  ['SOURCE-IPS', (s) => (s.event.sourceIPs ?? []).join(',')],
  ['USER-AGENT', (s) => s.event.userAgent ?? ''],
  ['CLUSTER', (s) => s.cluster],
  ['AUDIT-ID', (s) => s.event.auditID],
]

function csvCell(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v
}

export async function* renderEvents(events: AsyncIterable<StoredEvent>, format: OutputFormat): AsyncGenerator<string> {
  if (format === 'ndjson') {
    for await (const e of events) yield e.raw + '\n'
    return
  }
  if (format === 'json') {
    let first = true
    yield '['
    for await (const e of events) {
      yield (first ? '\n' : ',\n') + e.raw
      first = false
    }
    yield first ? ']\n' : '\n]\n'
    return
  }
  const cols = format === 'table' ? NARROW : WIDE
  if (format === 'csv') {
    yield WIDE.map(([h]) => h.toLowerCase()).join(',') + '\n'
    for await (const e of events) yield WIDE.map(([, f]) => csvCell(f(e))).join(',') + '\n'
    return
  }
  // tables need every row for the column widths; query limits keep this bounded
  const rows: string[][] = []
  for await (const e of events) rows.push(cols.map(([, f]) => f(e)))
  if (rows.length === 0) {
    yield 'No matching events.\n'
    return
  }
  yield table(cols.map(([h]) => h), rows, '') + '\n'
}
