/**
 * @module The `--audit-log-format=legacy` text format (k8s.io/apiserver `pkg/audit/format.go`
 * `EventString`), turned back into an Event as far as the format allows:
 *
 *   <RFC3339Nano> AUDIT: id="…" stage="…" ip="…" method="…" user="…" groups="…" as="…"
 *   asgroups="…" [user-agent="…"] namespace="…" uri="…" response="…"
 *
 * The format has no level, no objectRef (rebuilt from the URI as the apiserver would), no
 * bodies, no annotations and only the first source IP. `user="<none>"` is a failed
 * authentication; `as="<self>"` means no impersonation; `response="<deferred>"` no status yet.
 */
import { API_VERSION, isStage, parseRequestInfo, type AuditEvent, type ObjectReference } from '../model/index.js'

const LINE = /^(\S+) AUDIT: (.*)$/
const PAIR = /([a-z][a-z-]*)="((?:[^"\\]|\\.)*)"/g

function unquote(go: string): string {
  try {
    return JSON.parse(`"${go}"`) as string
  } catch {
    return go // Go-only escapes such as \x: keep them visible rather than guess
  }
}

/** `"a","b"` → [a, b] (auditStringSlice) */
function splitQuotedList(value: string): string[] {
  const out: string[] = []
  for (const m of value.matchAll(/"((?:[^"\\]|\\.)*)"/g)) out.push(unquote(m[1]!))
  return out
}

/** RFC3339Nano (0–9 fractional digits) → MicroTime (exactly 6). */
export function toMicroTime(ts: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts)
  if (!m) return undefined
  const micros = (m[2] ?? '').padEnd(6, '0').slice(0, 6)
  if (m[3] === 'Z') return `${m[1]}.${micros}Z`
  const d = new Date(`${m[1]}${m[3]}`)
  return `${d.toISOString().slice(0, 19)}.${micros}Z`
}

export function looksLikeLegacyLine(line: string): boolean {
  return line.includes(' AUDIT: ') && LINE.test(line)
}

/** Returns the event, or a reason why the line is not a legacy audit line. */
export function parseLegacyLine(line: string): AuditEvent | string {
  const m = LINE.exec(line)
  if (!m) return 'not a legacy audit line'
  const ts = toMicroTime(m[1]!)
  if (!ts) return `timestamp: "${m[1]}" is not RFC3339`
  const f = new Map<string, string>()
  for (const p of m[2]!.matchAll(PAIR)) f.set(p[1]!, p[2]!)
  for (const key of ['id', 'stage', 'method', 'uri']) if (!f.has(key)) return `missing field ${key}`
  const stage = unquote(f.get('stage')!)
  if (!isStage(stage)) return `stage: "${stage}" is not a stage`
  const user = unquote(f.get('user') ?? '<none>')
  const groups = f.get('groups')
  const as = unquote(f.get('as') ?? '<self>')
  const asGroups = f.get('asgroups')
  const ip = unquote(f.get('ip') ?? '<unknown>')
  const uri = unquote(f.get('uri')!)
  const verb = unquote(f.get('method')!)
  const namespace = unquote(f.get('namespace') ?? '<none>')
  const response = unquote(f.get('response') ?? '<deferred>')
  const event = {
    kind: 'Event',
    apiVersion: API_VERSION,
    level: 'Metadata',
    auditID: unquote(f.get('id')!),
    stage,
    requestURI: uri,
    verb,
    user: user === '<none>' ? {} : { username: user, ...(groups && groups !== '<none>' ? { groups: splitQuotedList(unquote(groups)) } : {}) },
  } as AuditEvent
  if (as !== '<self>') event.impersonatedUser = { username: as, ...(asGroups && asGroups !== '<lookup>' ? { groups: splitQuotedList(unquote(asGroups)) } : {}) }
  if (ip !== '<unknown>') event.sourceIPs = [ip]
  if (f.has('user-agent')) event.userAgent = unquote(f.get('user-agent')!)
  const info = parseRequestInfo(uri, undefined, verb)
  if (info.isResourceRequest) {
    const ref: ObjectReference = { resource: info.resource }
    if (namespace !== '<none>') ref.namespace = namespace
    if (info.name) ref.name = info.name
    if (info.apiGroup) ref.apiGroup = info.apiGroup
    ref.apiVersion = info.apiVersion
    if (info.subresource) ref.subresource = info.subresource
    event.objectRef = ref
  }
  if (response !== '<deferred>' && /^\d+$/.test(response)) event.responseStatus = { metadata: {}, code: Number(response) }
  event.requestReceivedTimestamp = ts
  event.stageTimestamp = ts
  return event
}
