/**
 * @module Stored events in any output format (src/cli/output.ts), streamed: `query` prints
 * them, other commands that list events can too. JSON and ndjson print each event exactly as
 * stored (an audit.k8s.io/v1 Event); tables show one line per event.
 */
import { Type } from '@sinclair/typebox'
import type { AuditEvent } from '../model/index.js'
import { EventSchema } from '../model/audit-schema.js'
import type { StoredEvent } from '../store/index.js'
import { renderRecords, type Column, type OutputFormat, type RecordView } from './output.js'

/** -o json: an array of audit.k8s.io/v1 Events; -o ndjson: one Event per line. */
export const EVENT_LIST_SCHEMA = Type.Array(EventSchema)

export function resourceOf(e: AuditEvent): string {
  const r = e.objectRef
  if (!r?.resource) return e.requestURI.split('?', 1)[0] ?? ''
  const res = r.subresource ? `${r.resource}/${r.subresource}` : r.resource
  return r.apiGroup ? `${res}.${r.apiGroup}` : res
}

export function userOf(e: AuditEvent): string {
  const u = e.user.username ?? '(unauthenticated)'
  return e.impersonatedUser?.username ? `${u} as ${e.impersonatedUser.username}` : u
}

const COLUMNS: Array<[string | Column, (s: StoredEvent) => string]> = [
  ['TIME', (s) => s.event.requestReceivedTimestamp],
  ['USER', (s) => userOf(s.event)],
  ['VERB', (s) => s.event.verb],
  ['RESOURCE', (s) => resourceOf(s.event)],
  ['NAMESPACE', (s) => s.event.objectRef?.namespace ?? ''],
  ['NAME', (s) => s.event.objectRef?.name ?? ''],
  [{ header: 'CODE', align: 'right' }, (s) => String(s.event.responseStatus?.code ?? '')],
  ['STAGE', (s) => s.event.stage],
]
const WIDE_COLUMNS: Array<[string | Column, (s: StoredEvent) => string]> = [
  ['SOURCE-IPS', (s) => (s.event.sourceIPs ?? []).join(',')],
  ['USER-AGENT', (s) => s.event.userAgent ?? ''],
  ['CLUSTER', (s) => s.cluster],
  ['AUDIT-ID', (s) => s.event.auditID],
]

export interface EventOutputOptions {
  /** After the table (counts, truncation), once every event was seen. */
  footer?: () => Promise<string | undefined>
  empty?: string
}

function csvCell(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v
}

export async function* renderEvents(events: AsyncIterable<StoredEvent>, format: OutputFormat | 'csv', options: EventOutputOptions = {}): AsyncGenerator<string> {
  const all = [...COLUMNS, ...WIDE_COLUMNS]
  if (format === 'csv') {
    yield all.map(([h]) => (typeof h === 'string' ? h : h.header).toLowerCase()).join(',') + '\n'
    for await (const e of events) yield all.map(([, f]) => csvCell(f(e))).join(',') + '\n'
    return
  }
  let footer: string | undefined
  const view: RecordView<StoredEvent> = {
    columns: COLUMNS.map(([h]) => h),
    wideColumns: WIDE_COLUMNS.map(([h]) => h),
    row: (e, wide) => (wide ? all : COLUMNS).map(([, f]) => f(e)),
    json: (e) => e.raw,
    value: (e) => e.event,
    empty: options.empty ?? 'No matching events.',
    footer: () => footer,
  }
  // the footer's counts are asked for once the events have streamed (the table waits for all rows anyway)
  async function* thenFooter(): AsyncGenerator<StoredEvent> {
    yield* events
    footer = await options.footer?.()
  }
  yield* renderRecords(format, thenFooter(), view)
}
