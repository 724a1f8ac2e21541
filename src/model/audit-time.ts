/**
 * @module The audit timestamps kubetrail accepts, in one place: RFC 3339 in UTC as the apiserver
 * writes them (`metav1.MicroTime`: `2006-01-02T15:04:05.000000Z`), with a fraction of at most six
 * digits. The store parses them in SQL (`TS` in src/store) under the same pattern; a property
 * test holds the two equal. The rule is strict on purpose: whatever the collector acknowledges,
 * the store must be able to keep.
 */

/** The shape, for SQL's regexp_full_match (parseAuditTime reads the same shape by character codes, and checks the ranges). */
export const AUDIT_TIME_PATTERN = '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?Z'

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

const isLeapYear = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0

/** Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's days_from_civil: Date.UTC maps years 0–99 to 1900–1999). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y
  const era = Math.floor(yy / 400)
  const yoe = yy - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

const DIGIT_0 = 48

/** The number written by the digits s[from..to), or -1 when one is not a digit. */
function digits(s: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - DIGIT_0
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/**
 * Seconds since the Unix epoch and the microseconds past them, or undefined when `s` is not an
 * audit time (AUDIT_TIME_PATTERN, and a real date and time). Read by character codes: it runs
 * for every event the collector receives.
 */
function parseAuditTime(s: string): [seconds: number, micros: number] | undefined {
  const n = s.length
  if (n < 20 || n > 27 || n === 21 || s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':' || s[n - 1] !== 'Z') return undefined
  if (n > 20 && s[19] !== '.') return undefined
  const y = digits(s, 0, 4)
  const mo = digits(s, 5, 7)
  const d = digits(s, 8, 10)
  const h = digits(s, 11, 13)
  const mi = digits(s, 14, 16)
  const sec = digits(s, 17, 19)
  const fraction = n > 20 ? digits(s, 20, n - 1) : 0
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || fraction < 0) return undefined
  if (d > DAYS_IN_MONTH[mo - 1]! + (mo === 2 && isLeapYear(y) ? 1 : 0)) return undefined
  const micros = n > 20 ? fraction * 10 ** (6 - (n - 21)) : 0
  return [daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec, micros]
}

export function isAuditTime(s: string): boolean {
  return parseAuditTime(s) !== undefined
}

/**
 * Microseconds since the Unix epoch as decimal text (years past 2255 exceed a double's exact
 * integers), or undefined when `s` is not an audit time.
 */
export function auditTimeMicros(s: string): string | undefined {
  const parsed = parseAuditTime(s)
  if (!parsed) return undefined
  const [seconds, micros] = parsed
  // seconds, then six digits of microseconds: exact, and cheaper than printing the product
  if (seconds > 0) return `${seconds}${String(micros + 1_000_000).slice(1)}`
  return Math.abs(seconds) < 9e9 ? String(seconds * 1_000_000 + micros) : String(BigInt(seconds) * 1_000_000n + BigInt(micros))
}
