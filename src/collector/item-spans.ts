/**
 * @module Where each element of an EventList's `items` array sits in the request body, so an
 * event can be stored as the exact text the apiserver sent instead of being serialized again
 * (JSON.stringify cost the collector almost as much as JSON.parse). A scanner, not a parser: the
 * body has already been parsed; any layout it does not expect returns undefined and the caller
 * serializes instead.
 */

function skipWs(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i)
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
    else return i
  }
}

/** Index of the quote closing the string that opens at `i`. */
function stringEnd(text: string, i: number): number {
  let j = text.indexOf('"', i + 1)
  for (;;) {
    if (j < 0) return -1
    let backslashes = 0
    for (let k = j - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++
    if (backslashes % 2 === 0) return j
    j = text.indexOf('"', j + 1)
  }
}

/** Index just after the JSON value that starts at `i` (-1 when the text ends first). */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i)
  if (c === 0x22) {
    const e = stringEnd(text, i)
    return e < 0 ? -1 : e + 1
  }
  if (c === 0x7b || c === 0x5b) {
    let depth = 0
    for (let j = i; j < text.length; j++) {
      const d = text.charCodeAt(j)
      if (d === 0x22) {
        j = stringEnd(text, j)
        if (j < 0) return -1
      } else if (d === 0x7b || d === 0x5b) depth++
      else if (d === 0x7d || d === 0x5d) {
        depth--
        if (depth === 0) return j + 1
      }
    }
    return -1
  }
  let j = i
  while (j < text.length && !',}] \n\r\t'.includes(text[j]!)) j++
  return j
}

/** [start, end) of every element of the top-level `items` array, or undefined. */
export function itemSpans(text: string, limit = Infinity): Array<[number, number]> | undefined {
  const bounds = itemBounds(text, limit)
  if (!bounds) return undefined
  const spans: Array<[number, number]> = []
  for (let i = 0; i < bounds.length; i += 2) spans.push([bounds[i]!, bounds[i + 1]!])
  return spans
}

/**
 * The spans of `itemSpans`, flat (start, end, start, end, …): two numbers per item, whatever the
 * number of items. At most `limit` spans: a body of a million items is known to be one after
 * `limit` of them, not a million.
 */
export function itemBounds(text: string, limit = Infinity): number[] | undefined {
  let i = skipWs(text, 0)
  if (text[i] !== '{') return undefined
  i++
  for (;;) {
    i = skipWs(text, i)
    if (text[i] !== '"') return undefined
    const keyEnd = stringEnd(text, i)
    if (keyEnd < 0) return undefined
    const key = text.slice(i + 1, keyEnd)
    i = skipWs(text, keyEnd + 1)
    if (text[i] !== ':') return undefined
    i = skipWs(text, i + 1)
    if (key === 'items') return arrayElements(text, i, limit)
    i = valueEnd(text, i)
    if (i < 0) return undefined
    i = skipWs(text, i)
    if (text[i] !== ',') return undefined
    i++
  }
}

function arrayElements(text: string, i: number, limit: number): number[] | undefined {
  if (text[i] !== '[') return undefined
  const spans: number[] = []
  i = skipWs(text, i + 1)
  if (text[i] === ']') return spans
  for (;;) {
    const start = i
    const end = valueEnd(text, i)
    if (end < 0) return undefined
    spans.push(start, end)
    if (spans.length >= 2 * limit) return spans
    i = skipWs(text, end)
    if (text[i] === ']') return spans
    if (text[i] !== ',') return undefined
    i = skipWs(text, i + 1)
  }
}
