/**
 * @module Small helpers for untyped JSON values, none of them recursive: audit events carry
 * request bodies written by any API user, and a body nested 100,000 levels deep (a `patch` of
 * `[[[[…]]]]`) must cost its own event nothing but time. V8's JSON.parse is iterative;
 * JSON.stringify is not (it throws RangeError beyond a few thousand levels): `stringifyJson`
 * writes the same text without that limit.
 */

export type JsonObject = Record<string, unknown>

/** A JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Exactly what `JSON.stringify(value)` returns, at any nesting depth. The built-in is tried
 * first (fast, and almost every value fits its stack); only a value too deep for it is written
 * by the loop below.
 */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
  }
  return writeJson(value, Infinity)
}

/** The loop stringifyJson falls back to, alone (tests hold it equal to JSON.stringify). */
export function stringifyJsonIteratively(value: unknown): string {
  return writeJson(value, Infinity)
}

/** The start of a value's JSON text, at most `max` characters (then `…`); "nothing" for undefined. Bounded work for any value. */
export function previewJson(value: unknown, max: number): string {
  const text = writeJson(value, max)
  if (text === undefined) return 'nothing'
  return text.length > max ? `${text.slice(0, max)}…` : text
}

type Frame = { array: unknown[]; i: number } | { object: JsonObject; keys: string[]; i: number; first: boolean }

/** JSON.stringify's ToJSON step and its "not a JSON value" cases. */
function jsonValue(v: unknown, key: string): unknown {
  if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function') return (v as { toJSON(k: string): unknown }).toJSON(key)
  return v
}

const skipped = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol'

/**
 * JSON.stringify's algorithm with an explicit stack: the same text for any value it accepts
 * (key order, `toJSON`, undefined members left out or written as null, non-finite numbers as
 * null, TypeError on cycles and BigInt). Stops once more than `max` characters are written.
 */
function writeJson(root: unknown, max: number): string {
  const out: string[] = []
  let length = 0
  const write = (s: string) => {
    out.push(s)
    length += s.length
  }
  const stack: Frame[] = []
  const open = new Set<object>()
  let next: unknown = jsonValue(root, '')
  if (skipped(next)) return undefined as unknown as string
  let pending = true
  for (;;) {
    if (pending) {
      pending = false
      const v = next
      if (v === null) write('null')
      else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') write(JSON.stringify(v))
      else if (typeof v === 'bigint') throw new TypeError('Do not know how to serialize a BigInt')
      else if (typeof v === 'object') {
        if (open.has(v)) throw new TypeError('Converting circular structure to JSON')
        open.add(v)
        if (Array.isArray(v)) {
          write('[')
          stack.push({ array: v, i: 0 })
        } else {
          write('{')
          stack.push({ object: v as JsonObject, keys: Object.keys(v), i: 0, first: true })
        }
      }
      if (length > max) break
    }
    const top = stack[stack.length - 1]
    if (top === undefined) break
    if ('array' in top) {
      if (top.i < top.array.length) {
        if (top.i > 0) write(',')
        const v = jsonValue(top.array[top.i], String(top.i))
        top.i++
        next = skipped(v) ? null : v
        pending = true
        continue
      }
      write(']')
      open.delete(top.array)
      stack.pop()
      continue
    }
    while (top.i < top.keys.length) {
      const key = top.keys[top.i++]!
      const v = jsonValue(top.object[key], key)
      if (skipped(v)) continue
      write(`${top.first ? '' : ','}${JSON.stringify(key)}:`)
      top.first = false
      next = v
      pending = true
      break
    }
    if (pending) continue
    write('}')
    open.delete(top.object)
    stack.pop()
  }
  return out.join('')
}

/** What a `visitJson` visitor returns: false leaves the node's children unvisited, STOP ends the walk. */
export const STOP = 'stop'

/**
 * Calls `visit` on `root` and on every object and array inside it, parents before children,
 * without recursion. `visit` returns false to leave a node's children unvisited (a value it
 * replaced, say), STOP to end the walk. Children are read after their parent's visit, so
 * replacements are seen.
 */
export function visitJson(root: unknown, visit: (node: JsonObject | unknown[]) => boolean | void | typeof STOP): void {
  if (typeof root !== 'object' || root === null) return
  const stack: Array<JsonObject | unknown[]> = [root as JsonObject | unknown[]]
  while (stack.length > 0) {
    const node = stack.pop()!
    const go = visit(node)
    if (go === STOP) return
    if (go === false) continue
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) {
        const child = node[i]
        if (typeof child === 'object' && child !== null) stack.push(child as JsonObject | unknown[])
      }
    } else {
      for (const key in node) {
        const child = node[key]
        if (typeof child === 'object' && child !== null) stack.push(child as JsonObject | unknown[])
      }
    }
  }
}

/** Whether every string in a JSON value (object keys included) is well-formed Unicode (no lone surrogate). */
export function allStringsWellFormed(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed()
  let ok = true
  visitJson(value, (node) => {
    if (Array.isArray(node)) {
      for (const v of node) if (typeof v === 'string' && !v.isWellFormed()) ok = false
    } else {
      for (const key in node) {
        const v = node[key]
        if (!key.isWellFormed() || (typeof v === 'string' && !v.isWellFormed())) ok = false
      }
    }
    return ok || STOP
  })
  return ok
}

/**
 * Replaces, in place, every lone surrogate in the strings of a JSON value (keys included) by
 * U+FFFD, as Go's decoder reads them; returns how many strings changed. Object key order is kept.
 */
export function makeStringsWellFormed(value: JsonObject | unknown[]): number {
  let changed = 0
  visitJson(value, (node) => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v = node[i]
        if (typeof v === 'string' && !v.isWellFormed()) {
          node[i] = v.toWellFormed()
          changed++
        }
      }
      return
    }
    let badKey = false
    for (const key in node) {
      const v = node[key]
      if (typeof v === 'string' && !v.isWellFormed()) {
        node[key] = v.toWellFormed()
        changed++
      }
      if (!key.isWellFormed()) badKey = true
    }
    if (!badKey) return
    // rebuilt in the same order (two keys may now be one: the later wins, as in JSON.parse)
    const entries = Object.entries(node)
    for (const [key] of entries) delete node[key]
    for (const [key, v] of entries) {
      if (!key.isWellFormed()) changed++
      node[key.toWellFormed()] = v
    }
  })
  return changed
}
