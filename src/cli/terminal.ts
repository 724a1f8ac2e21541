/**
 * @module Text that came from audit events, made safe for a terminal. Every event field is
 * attacker-controlled: a user agent such as "kubectl\x1b]8;;http://evil\x07" or a name with
 * U+202E must not drive the terminal or reorder what the operator reads. No dependencies: the
 * CLI's entry point loads it first.
 */

/**
 * Escape sequences (CSI, OSC, DCS/SOS/PM/APC strings, two-byte ESC sequences), C0 and C1 control
 * characters, DEL, and the Unicode bidirectional controls (embeddings, overrides, isolates, marks).
 */
const UNSAFE_IN_TEXT =
  // eslint-disable-next-line no-control-regex
  /\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -~]?)|[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
const UNSAFE_IN_CELL = new RegExp(`${UNSAFE_IN_TEXT.source}|[\\t\\n]`, 'g')

/** What replaces each removed sequence: visible, so the reader sees that something was there. */
export const REPLACEMENT = '\ufffd'

/** One table cell or one-line field: every control sequence and line break becomes U+FFFD. */
export function cleanCell(text: string): string {
  return text.replace(UNSAFE_IN_CELL, REPLACEMENT)
}

/** Free text (keeps line breaks and tabs): escape sequences and other controls become U+FFFD. */
export function cleanText(text: string): string {
  return text.replace(UNSAFE_IN_TEXT, REPLACEMENT)
}

// eslint-disable-next-line no-control-regex
const RAW_CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g

/**
 * For a terminal: what is left of control characters (raw C1 and bidi controls inside JSON or
 * YAML strings, which JSON.stringify and Go's encoder leave as they are) is written as its
 * `\uXXXX` escape: the same value to a JSON reader, inert on screen. Pipes and files get the
 * exact bytes.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(RAW_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
