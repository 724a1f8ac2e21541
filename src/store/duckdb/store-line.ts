/**
 * @module Store lines: one event as the collector's write-ahead log holds it, with the store's
 * columns already computed. The collector has parsed every event anyway (to check, redact and
 * run detection on it); computing the columns there costs it ~5 µs per event, while the
 * store, handed only the JSON, parsed it twice more and computed them in SQL: a commit now takes
 * 30–35 µs per event of one DuckDB thread, against 50–82 µs (measured).
 *
 * `k1 \t <slow> \t <field> … \t <event JSON>`, tab-separated, the JSON last (the collector never
 * writes a raw tab, CR or LF inside it). A field is its text, or `\N` for null. When a value
 * cannot be written as it is (a tab, a line break, NUL, the text `\N`, a lone surrogate, an
 * annotation the JSON round trip could change), the line is marked slow: its fields are null
 * (but for the two times, always plain digits) and the store computes that event's columns from
 * its JSON in SQL, as for an imported event. Tests hold both ways equal, column by column.
 */
import { auditTimeMicros, carriesPodSpec, isExternalIP, privilegedReasons, tokenReviewFailed, userKind, type AuditEvent } from '../../model/index.js'
import { COLUMNS, EVENT_STRUCT, ISO_TIME, sqlString, withBodies } from './columns.js'

/** The first field of a store line (a line from an older WAL starts with the event's `{`). */
export const STORE_LINE_MARKER = 'k1'

/** What a field function returns for a value a line cannot hold as it is. */
const SLOW = Symbol('slow')

type FieldValue = string | undefined | typeof SLOW

/** A stored column computed from the event: its text in the line, and the SQL that reads it back. */
interface LineField {
  column: string
  /** The type read_csv reads the field as. */
  csvType: string
  value: (e: AuditEvent) => FieldValue
  /** SQL over the read field `f` giving the column (default: the field itself). */
  read?: (f: string) => string
}

const list = (v: readonly string[] | undefined): string => JSON.stringify(v ?? [])
const readList = (f: string) => `from_json(${f}, '["VARCHAR"]')`
const bool = (b: boolean): string => (b ? 'true' : 'false')
const INT32_MAX = 2 ** 31 - 1

/**
 * CAST(json AS VARCHAR) in DuckDB writes the parsed object again, as JSON.stringify does, but for
 * two things: its \u escapes have upper-case hex digits (\u001F), and JavaScript puts index-like
 * keys first. Either goes the slow way (quotes and backslashes, in most RBAC reasons, do not).
 */
function annotationsText(a: Record<string, string> | undefined): FieldValue {
  if (a === undefined) return undefined
  for (const key in a) {
    const first = key.charCodeAt(0)
    if (first >= 48 && first <= 57 && /^(0|[1-9][0-9]*)$/.test(key)) return SLOW
  }
  const text = JSON.stringify(a)
  return text.includes('\\u') ? SLOW : text
}

/** Columns in the stored order (less `cluster`, known to the reader, and `event`, the JSON itself). */
const FIELDS: LineField[] = [
  { column: 'audit_id', csvType: 'VARCHAR', value: (e) => e.auditID },
  { column: 'stage', csvType: 'VARCHAR', value: (e) => e.stage },
  { column: 'level', csvType: 'VARCHAR', value: (e) => e.level },
  { column: 'verb', csvType: 'VARCHAR', value: (e) => e.verb },
  { column: 'request_uri', csvType: 'VARCHAR', value: (e) => e.requestURI },
  { column: 'username', csvType: 'VARCHAR', value: (e) => e.user.username },
  { column: 'user_uid', csvType: 'VARCHAR', value: (e) => e.user.uid },
  { column: 'user_groups', csvType: 'VARCHAR', value: (e) => list(e.user.groups), read: readList },
  { column: 'impersonated_user', csvType: 'VARCHAR', value: (e) => e.impersonatedUser?.username },
  { column: 'impersonated_groups', csvType: 'VARCHAR', value: (e) => list(e.impersonatedUser?.groups), read: readList },
  { column: 'source_ips', csvType: 'VARCHAR', value: (e) => list(e.sourceIPs), read: readList },
  { column: 'user_agent', csvType: 'VARCHAR', value: (e) => e.userAgent },
  { column: 'api_group', csvType: 'VARCHAR', value: (e) => e.objectRef?.apiGroup ?? '' },
  { column: 'api_version', csvType: 'VARCHAR', value: (e) => e.objectRef?.apiVersion },
  { column: 'resource', csvType: 'VARCHAR', value: (e) => e.objectRef?.resource ?? '' },
  { column: 'subresource', csvType: 'VARCHAR', value: (e) => e.objectRef?.subresource ?? '' },
  { column: 'namespace', csvType: 'VARCHAR', value: (e) => e.objectRef?.namespace ?? '' },
  { column: 'name', csvType: 'VARCHAR', value: (e) => e.objectRef?.name ?? '' },
  { column: 'object_uid', csvType: 'VARCHAR', value: (e) => e.objectRef?.uid },
  // json_transform reads a code outside INTEGER's range as null
  { column: 'code', csvType: 'INTEGER', value: (e) => { const c = e.responseStatus?.code; return c === undefined || Math.abs(c) > INT32_MAX ? undefined : String(c) } },
  { column: 'status_reason', csvType: 'VARCHAR', value: (e) => e.responseStatus?.reason },
  { column: 'status_message', csvType: 'VARCHAR', value: (e) => e.responseStatus?.message },
  { column: 'request_received_at', csvType: 'BIGINT', value: (e) => auditTimeMicros(e.requestReceivedTimestamp), read: (f) => `make_timestamp(${f})` },
  { column: 'stage_at', csvType: 'BIGINT', value: (e) => auditTimeMicros(e.stageTimestamp), read: (f) => `make_timestamp(${f})` },
  { column: 'annotations', csvType: 'VARCHAR', value: (e) => annotationsText(e.annotations) },
  { column: 'user_kind', csvType: 'VARCHAR', value: (e) => userKind(e.user.username) },
  { column: 'source_external', csvType: 'BOOLEAN', value: (e) => bool((e.sourceIPs ?? []).some(isExternalIP)) },
  { column: 'privileged_pod', csvType: 'BOOLEAN', value: (e) => bool(carriesPodSpec(e.objectRef) && (e.level === 'Request' || e.level === 'RequestResponse') && privilegedReasons(e.requestObject).length > 0) },
  {
    column: 'auth_failed', csvType: 'BOOLEAN',
    value: (e) => bool(e.responseStatus?.code === 401 || (e.objectRef?.resource === 'tokenreviews' && e.objectRef.apiGroup === 'authentication.k8s.io' && e.level === 'RequestResponse' && tokenReviewFailed(e))),
  },
]

const FIELD_OF_COLUMN = new Map(FIELDS.map((f) => [f.column, f]))
const TIME_FIELDS = new Set(['request_received_at', 'stage_at'])
const NULL_TEXT = '\\N'
/** A slow line's fields: null but for the times. */
const SLOW_FIELDS = FIELDS.map((f) => (TIME_FIELDS.has(f.column) ? undefined : NULL_TEXT))

/** The SQL giving a field's column from its read value `f_<column>`. */
const readField = (f: LineField) => (f.read ? f.read(`f_${f.column}`) : `f_${f.column}`)
/** What a field may not hold besides a tab (counted): a line break (DuckDB's line reader also ends a line at a CR), NUL. */
const UNWRITABLE = /[\n\r\0]/

/**
 * The store line of a checked event (its times must be audit times) and its JSON text (no raw
 * tab, CR or LF: JSON.stringify never writes one).
 */
export function storeLine(event: AuditEvent, json: string): string {
  let slow = false
  const values: string[] = new Array(FIELDS.length)
  for (let i = 0; i < FIELDS.length; i++) {
    const v = FIELDS[i]!.value(event)
    if (v === SLOW || v === NULL_TEXT) slow = true
    values[i] = v === undefined || v === SLOW ? NULL_TEXT : v
  }
  let fields = values.join('\t')
  // one check over all the fields: as many tabs as separators, nothing unwritable, well-formed
  if (!slow && (countTabs(fields) !== FIELDS.length - 1 || UNWRITABLE.test(fields) || !fields.isWellFormed())) slow = true
  if (slow) fields = FIELDS.map((f, i) => SLOW_FIELDS[i] ?? values[i]).join('\t')
  return `${STORE_LINE_MARKER}\t${slow ? 'true' : 'false'}\t${fields}\t${json}`
}

function countTabs(s: string): number {
  let n = 0
  for (let i = s.indexOf('\t'); i >= 0; i = s.indexOf('\t', i + 1)) n++
  return n
}

/** The event JSON of a WAL line's payload (what follows the cluster): a store line's last field, or the whole payload of an older line. */
export function jsonOfStoreLine(payload: string): string {
  return payload.startsWith(`${STORE_LINE_MARKER}\t`) ? payload.slice(payload.lastIndexOf('\t') + 1) : payload
}

/** read_csv over a file of `<cluster>\t<store line>` lines. */
export function readStoreLinesSql(path: string, maxLineBytes: number): string {
  const columns = [['cluster', 'VARCHAR'], ['marker', 'VARCHAR'], ['slow', 'BOOLEAN'], ...FIELDS.map((f) => [`f_${f.column}`, f.csvType]), ['raw', 'VARCHAR']]
  const spec = `{${columns.map(([n, t]) => `'${n}': '${t}'`).join(', ')}}`
  return `read_csv(${sqlString(path)}, columns = ${spec}, delim = '\t', quote = '', escape = '', nullstr = '\\N',
    header = false, auto_detect = false, compression = 'none', max_line_size = ${maxLineBytes}, buffer_size = ${4 * maxLineBytes})`
}

/** The stored columns of the fast rows of `lines` (readStoreLinesSql), read from their fields. */
export function fastColumnsOfStoreLines(lines: string, cluster: string): string {
  const select = COLUMNS.map(([name]) => {
    if (name === 'cluster') return `${sqlString(cluster)} AS "cluster"`
    if (name === 'event') return 'raw AS "event"'
    return `${readField(FIELD_OF_COLUMN.get(name)!)} AS "${name}"`
  })
  return `(SELECT ${select.join(', ')} FROM ${lines} WHERE "cluster" = ${sqlString(cluster)})`
}

/**
 * The stored columns (and `idx`) of the rows of `lines` (readStoreLinesSql with the line number
 * as `idx`): a fast row's from its fields, a slow row's from its JSON with the expressions an
 * imported event gets. Deciding that per row and per column costs as much as the columns
 * themselves (measured: 23–29 against 12–14 µs per event): files without a slow row are read
 * with fastColumnsOfStoreLines instead.
 */
export function columnsOfStoreLines(lines: string, cluster: string): string {
  const computed = new Map(COLUMNS.map(([name, type, expr]) => [name, `CAST(${expr.replace('$cluster', sqlString(cluster))} AS ${type})`]))
  const select = COLUMNS.map(([name]) => {
    const field = FIELD_OF_COLUMN.get(name)
    if (!field) return `${computed.get(name)} AS "${name}"`
    if (TIME_FIELDS.has(name)) return `${readField(field)} AS "${name}"`
    return `CASE WHEN slow THEN ${computed.get(name)} ELSE ${readField(field)} END AS "${name}"`
  })
  const parsed = `(SELECT *, CASE WHEN slow THEN json_transform(raw, ${sqlString(EVENT_STRUCT)}) END AS t FROM ${lines} WHERE "cluster" = ${sqlString(cluster)})`
  return `(SELECT idx, ${select.join(', ')} FROM ${withBodies(parsed)})`
}

/**
 * Per cluster in a file of store lines: the range of request times (ISO text), the events, the
 * slow ones, the distinct identities among the fast ones, and whether every line is a store
 * line with both times (a file that is not fails the caller's check, and is read line by line).
 */
export function storeLineBatchesSql(lines: string): string {
  return `SELECT "cluster", ${ISO_TIME('make_timestamp(min(f_request_received_at))')} AS lo, ${ISO_TIME('make_timestamp(max(f_request_received_at))')} AS hi, count(*) AS n,
      count(*) FILTER (WHERE slow) AS slow, count(DISTINCT (f_audit_id, f_stage, f_request_received_at)) FILTER (WHERE NOT slow) AS fast_keys,
      bool_and(marker = '${STORE_LINE_MARKER}' AND f_request_received_at IS NOT NULL AND f_stage_at IS NOT NULL AND slow IS NOT NULL) AS well_formed
    FROM ${lines} GROUP BY ALL ORDER BY 1`
}
