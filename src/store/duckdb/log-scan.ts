/**
 * @module Audit logs read by DuckDB itself: NDJSON files (plain or gzip) scanned natively, in
 * parallel over files and cores, as lines; each line parsed once (json_transform) into the
 * store's columns. Queries over files (`file-store.ts`) and the fast import share it.
 *
 * Two measured traps shape the SQL:
 * - A filter over columns computed from the parsed event is pushed by DuckDB's optimizer below
 *   the projection that parses it, and every reference then parses the line again (a filter of 9
 *   conditions: 66 against 4 µs per event, measured). `OFFSET 0` after the parse keeps it there.
 * - Most lines need no parse at all to be rejected: a question names values (a user, a resource,
 *   a namespace), and a line that holds an event with those values holds their JSON text. A
 *   substring test on the raw line (~1 µs per event) runs before the parse (~5 µs), for every
 *   value that has one spelling in JSON: a value could be spelled otherwise only with an escape
 *   (`\u…`, or `\/` for a slash), so a line with one is parsed whatever it holds.
 */
import type { EventQuery } from '../types.js'
// the redactor's own module, not src/ingest's index: that loads the log reader and its schema checks
import { SECRET_TEXT } from '../../ingest/redact.js'
import { COLUMNS, EVENT_STRUCT, PROBLEM_SQL, sqlString, withBodies } from './columns.js'

/**
 * Lines longer than this fail the native scan (the caller then reads the file with the JavaScript
 * reader): DuckDB's line reader holds buffers of twice this per thread.
 */
export const MAX_NATIVE_LINE_BYTES = 16 << 20

/**
 * DuckDB's CSV reader as a line reader: no delimiter, quote or escape it could meet in JSON (JSON
 * text holds no raw control character), one VARCHAR column. An empty line is a NULL row, so row
 * numbers are line numbers (a CR also ends a line for it: files holding one are read by the
 * JavaScript reader).
 */
export function readLinesSql(files: readonly string[], compression: 'none' | 'gzip'): string {
  return `read_csv([${files.map(sqlString).join(', ')}], columns = {'line': 'VARCHAR'}, delim = '\u0001', quote = '', escape = '', header = false,
    auto_detect = false, strict_mode = false, new_line = '\\n', compression = '${compression}', filename = true,
    max_line_size = ${MAX_NATIVE_LINE_BYTES}, buffer_size = ${2 * MAX_NATIVE_LINE_BYTES})`
}

/** A value's JSON text, quotes included, or just its opening (`prefix`). */
function jsonText(value: string, prefix = false): string {
  const text = JSON.stringify(value)
  return prefix ? text.slice(0, -1) : text
}

/** SQL over `line`: it contains `needle`, or could spell it otherwise (an escape). */
function holds(needle: string, value: string): string {
  const otherwise = [`contains(line, '\\u')`]
  if (value.includes('/')) otherwise.push(`contains(line, '\\/')`)
  return `(contains(line, ${sqlString(needle)}) OR ${otherwise.join(' OR ')})`
}

function anyOf(values: readonly string[] | undefined, prefix = false): string | undefined {
  if (!values || values.length === 0) return undefined
  const texts = values.filter((v) => v !== '')
  // the empty string is also what an absent field reads as: no text to look for
  if (texts.length < values.length) return undefined
  return `(${texts.map((v) => holds(jsonText(v, prefix), v)).join(' OR ')})`
}

/**
 * What a line holding a failed authentication (`auth_failed`) holds: a 401 (as `401`, `401.0` or
 * `40100e-2`, or in exponent form, `4.01e2`, which DuckDB reads as 401 too), or a TokenReview.
 */
const AUTH_FAILED_LINE = `(contains(line, '401') OR ${holds('"tokenreviews"', 'tokenreviews')} OR regexp_matches(line, '"code"\\s*:\\s*-?[0-9.]*[eE]'))`

/** What a privileged pod's body names (`privileged_pod`): one of these keys. */
const PRIVILEGED_KEYS = ['privileged', 'hostNetwork', 'hostPID', 'hostIPC', 'hostPath']

/**
 * A condition on the raw `line` that every line holding a matching event meets (so it can run
 * before the parse), or undefined when the query names nothing to look for.
 */
export function lineFilter(q: EventQuery): string | undefined {
  const parts: Array<string | undefined> = [
    anyOf(q.users),
    anyOf(q.groups),
    anyOf(q.verbs),
    anyOf(q.stages),
    anyOf(q.levels),
    q.namespace !== undefined ? anyOf([q.namespace]) : undefined,
    q.name !== undefined ? anyOf([q.name]) : undefined,
    q.apiGroup !== undefined ? anyOf([q.apiGroup]) : undefined,
    q.userPrefix !== undefined ? anyOf([q.userPrefix], true) : undefined,
    q.uriContains !== undefined && q.uriContains !== '' ? holds(JSON.stringify(q.uriContains).slice(1, -1), q.uriContains) : undefined,
    q.privilegedPod === true ? anyOf(PRIVILEGED_KEYS) : undefined,
    q.authFailed === true ? AUTH_FAILED_LINE : undefined,
    // the stored event's text is the line (redaction only replaces values inside bodies)
    q.eventContainsAny && q.eventContainsAny.length > 0 && q.eventContainsAny.every((s) => s !== '') ? `(${q.eventContainsAny.map((s) => `contains(line, ${sqlString(s)})`).join(' OR ')})` : undefined,
  ]
  if (q.resources && q.resources.length > 0) {
    const alternatives = q.resources.map((r) => {
      const each = [r.resource === '*' ? undefined : anyOf([r.resource]), r.apiGroup ? anyOf([r.apiGroup]) : undefined, r.subresource ? anyOf([r.subresource]) : undefined].filter((c) => c !== undefined)
      return each.length === 0 ? undefined : `(${each.join(' AND ')})`
    })
    if (alternatives.every((a) => a !== undefined)) parts.push(`(${alternatives.join(' OR ')})`)
  }
  if (q.anyOf && q.anyOf.length > 0) {
    const alternatives = q.anyOf.map(lineFilter)
    if (alternatives.every((a) => a !== undefined)) parts.push(`(${alternatives.join(' OR ')})`)
  }
  const present = parts.filter((p): p is string => p !== undefined)
  return present.length === 0 ? undefined : present.join(' AND ')
}

/**
 * Every stored column of the events in `lines` (a relation with `file_index`, `line` and the
 * event's text as `event_text`, e.g. redacted), with `file_index`, the raw `line` and `problem`
 * (why it cannot be stored; NULL for an event). Lines failing `filter` (SQL over `line`) are not
 * parsed; blank lines are left out.
 */
export function eventRowsSql(lines: string, cluster: string, filter?: string): string {
  // DuckDB's trim costs ~5 µs per line (measured: 0.4-0.6 s per 100 MB, more than the scan):
  // an event line starts with its brace, so only other lines are trimmed to find blank ones
  const notBlank = `CASE WHEN starts_with(line, '{') THEN true ELSE trim(line) <> '' END`
  const where = [`line IS NOT NULL`, notBlank, ...(filter ? [filter] : [])].join(' AND ')
  // OFFSET 0: see the module comment (one parse per line, whatever the filters above)
  const parsed = `(SELECT file_index, line, event_text AS raw, try(json_transform(line, ${sqlString(EVENT_STRUCT)})) AS t FROM ${lines} WHERE ${where} OFFSET 0)`
  const select = COLUMNS.map(([n, type, expr]) => `CAST(${expr.replace('$cluster', sqlString(cluster))} AS ${type}) AS "${n}"`).join(', ')
  return `(SELECT ${select}, file_index, line, ${PROBLEM_SQL} AS problem FROM ${withBodies(parsed)})`
}

/** The schema's precise reason for a row SQL rejected (the SQL reason when JSON does not parse). */
export async function preciseReason(json: string, sqlReason: string): Promise<string> {
  // loaded for a malformed event only: the schema checks are ~220 modules a query does without
  const [{ checkAuditEvent }, { describeProblem }] = await Promise.all([import('../../model/check.js'), import('../../ingest/index.js')])
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (error) {
    return `invalid JSON: ${(error as Error).message.slice(0, 100)}`
  }
  const problem = checkAuditEvent(value)
  return problem ? describeProblem(value, problem) : sqlReason
}

/**
 * SQL over `line`: whether it may hold a value to redact (`mayHoldSecrets` in src/ingest, the
 * same patterns): the lines that must go through the JavaScript redactor, ~0.3 % of a log.
 */
export const MAY_HOLD_SECRETS_SQL = `(regexp_matches(line, ${sqlString(SECRET_TEXT.body)}) AND regexp_matches(line, ${sqlString(`(?i)${SECRET_TEXT.hint}`)}))`
