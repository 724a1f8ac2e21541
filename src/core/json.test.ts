import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { allStringsWellFormed, makeStringsWellFormed, previewJson, stringifyJson, stringifyJsonIteratively, visitJson } from './json.js'

/** `[{"a":[{"a":…}]}]`, `depth` containers, built without recursion. */
function deep(depth: number, leaf: unknown = 'x'): unknown {
  let v: unknown = leaf
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v, n: i }
  return v
}

describe('stringifyJson', () => {
  it('property: the same text as JSON.stringify for any JSON value (and undefined members, non-finite numbers, toJSON)', () => {
    const extra = fc.oneof(fc.constant(undefined), fc.constant(NaN), fc.constant(-0), fc.constant(Infinity), fc.date({ noInvalidDate: true }))
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.jsonValue(), extra, fc.array(tie('v')), fc.dictionary(fc.string(), tie('v'))),
    })).v
    fc.assert(
      fc.property(value, (v) => {
        expect(stringifyJsonIteratively(v)).toBe(JSON.stringify(v))
        expect(stringifyJson(v)).toBe(JSON.stringify(v))
      }),
      { numRuns: 1000 },
    )
  })

  it('writes what JSON.stringify cannot (100,000 levels), and JSON.parse reads it back to the same value', () => {
    const v = deep(100_000)
    expect(() => JSON.stringify(v)).toThrow(RangeError)
    const text = stringifyJson(v)
    expect(text.startsWith('{"a":[{"a":[')).toBe(true)
    expect(text.endsWith('],"n":99999}')).toBe(true)
    expect(stringifyJson(JSON.parse(text))).toBe(text)
  })

  it('throws as JSON.stringify does on cycles and BigInt, at any depth', () => {
    const cyclic: Record<string, unknown> = {}
    let inner = cyclic
    for (let i = 0; i < 20_000; i++) inner = (inner['a'] = {}) as Record<string, unknown>
    inner['back'] = cyclic
    expect(() => stringifyJson(cyclic)).toThrow(TypeError)
    expect(() => stringifyJson(deep(20_000, 1n))).toThrow(TypeError)
  })
})

describe('previewJson', () => {
  it('writes at most the first characters, whatever the size or depth of the value', () => {
    expect(previewJson(deep(1_000_000), 40)).toHaveLength(41)
    expect(previewJson({ a: 1 }, 40)).toBe('{"a":1}')
    expect(previewJson(undefined, 40)).toBe('nothing')
    expect(previewJson('x'.repeat(100), 10)).toBe('"xxxxxxxxx…')
  })
})

describe('visitJson and well-formed strings', () => {
  it('visits every container of a 100,000-level value once, parents first, and can skip or stop', () => {
    let n = 0
    visitJson(deep(100_000), () => void n++)
    expect(n).toBe(100_000)
    n = 0
    visitJson(deep(10), () => (n++ < 3 ? true : false))
    expect(n).toBe(4)
    n = 0
    visitJson({ a: [{}], b: [{}] }, () => (++n === 2 ? 'stop' : true))
    expect(n).toBe(2)
  })

  it('finds and replaces lone surrogates in values and keys at any depth, keeping key order', () => {
    const v = deep(50_000, { ok: 'fine', ['k\ud800']: 'v\udc00x', z: ['\ud83d\ude00', '\ud83d'] }) as unknown[]
    expect(allStringsWellFormed(v)).toBe(false)
    expect(makeStringsWellFormed(v)).toBe(3)
    expect(allStringsWellFormed(v)).toBe(true)
    const text = stringifyJson(v)
    expect(text).toContain('{"ok":"fine","k\ufffd":"v\ufffdx","z":["\ud83d\ude00","\ufffd"]}')
    expect(allStringsWellFormed({ a: ['\ud83d\ude00'] })).toBe(true)
    expect(allStringsWellFormed('\ud800')).toBe(false)
  })
})
