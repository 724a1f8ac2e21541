/**
 * @module A fast pre-check for a rule: a condition every matching event meets, compiled to plain
 * JavaScript from the simple parts of the rule's condition (`objectRef.resource == "secrets"`,
 * `verb in ["get", "list"]`, `responseStatus.code < 300`, `userKind(user.username) == "human"`,
 * `size(privilegeSettings(requestObject)) > 0`), through `&&` and `||` (a part it cannot compile
 * counts as true). Most events fail it, so the CEL interpreter runs only for the few that might
 * match; the CEL condition still decides. A test runs every rule both ways on the same events.
 */
import { isExternalIP, userKind, type AuditEvent } from '../model/index.js'
import { addedCapabilities, hostPaths, privilegeSettings } from './pod-spec.js'

type Getter = (e: AuditEvent) => string | number
const FIELDS: Record<string, Getter> = {
  verb: (e) => e.verb,
  stage: (e) => e.stage,
  level: (e) => e.level,
  'objectRef.resource': (e) => e.objectRef?.resource ?? '',
  'objectRef.subresource': (e) => e.objectRef?.subresource ?? '',
  'objectRef.apiGroup': (e) => e.objectRef?.apiGroup ?? '',
  'objectRef.namespace': (e) => e.objectRef?.namespace ?? '',
  'objectRef.name': (e) => e.objectRef?.name ?? '',
  'user.username': (e) => e.user?.username ?? '',
  'impersonatedUser.username': (e) => e.impersonatedUser?.username ?? '',
  'responseStatus.code': (e) => Math.trunc(e.responseStatus?.code ?? 0),
}

/** The operands of `op` at the top level of `expr` (one when there is none), or undefined when the top level has `?:` or an unclosed string. */
function splitTopLevel(expr: string, op: '&&' | '||'): string[] | undefined {
  const parts: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!
    if (c === '"' || c === "'") {
      const close = expr.indexOf(c, i + 1)
      if (close < 0) return undefined
      i = close
    } else if (c === '(' || c === '[' || c === '{') depth++
    else if (c === ')' || c === ']' || c === '}') depth--
    else if (depth === 0 && c === '?') return undefined
    else if (depth === 0 && expr.startsWith(op, i)) {
      parts.push(expr.slice(start, i).trim())
      start = i + 2
      i++
    }
  }
  parts.push(expr.slice(start).trim())
  return parts
}

/** The top-level `&&` operands, or undefined when the top level has `||` or `?:`. */
export function topLevelConjuncts(expr: string): string[] | undefined {
  const parts = splitTopLevel(expr, '&&')
  if (!parts || parts.some((p) => splitTopLevel(p, '||')?.length !== 1)) return undefined
  return parts
}

/** `(x)` → `x` when the parentheses enclose the whole expression. */
function unwrap(expr: string): string {
  const t = expr.trim()
  if (!t.startsWith('(') || !t.endsWith(')')) return t
  let depth = 0
  for (let i = 0; i < t.length - 1; i++) {
    if (t[i] === '(') depth++
    else if (t[i] === ')') depth--
    if (depth === 0) return t
  }
  return unwrap(t.slice(1, -1))
}

function literal(text: string): string | number | undefined {
  const t = text.trim()
  if (/^"[^"\\]*"$/.test(t)) return t.slice(1, -1)
  if (/^-?\d+$/.test(t)) return Number(t)
  return undefined
}

/** Functions of the request body the rules call, as the CEL environment registers them. */
const BODY_LISTS: Record<string, (body: unknown) => string[]> = { privilegeSettings, hostPaths, addedCapabilities }

function compileConjunct(c: string): ((e: AuditEvent) => boolean) | undefined {
  if (/^sourceIPs\.exists\((\w+),\s*isExternalIP\(\1\)\)$/.test(c)) return (e) => (e.sourceIPs ?? []).some(isExternalIP)
  if (c === 'requestObject != null') return (e) => e.requestObject !== undefined && e.requestObject !== null
  // a list that is empty has no element that exists, and a size of 0
  const bodyList = /^(?:size\((\w+)\(requestObject\)\) > 0|(\w+)\(requestObject\)\.exists\(.*\))$/.exec(c)
  const listOf = bodyList && BODY_LISTS[bodyList[1] ?? bodyList[2]!]
  if (listOf) return (e) => listOf(e.requestObject ?? null).length > 0
  const kind = /^userKind\(user\.username\)\s*(==|!=)\s*"(\w+)"$/.exec(c)
  if (kind) {
    const want = kind[2]
    return kind[1] === '==' ? (e) => userKind(e.user?.username ?? '') === want : (e) => userKind(e.user?.username ?? '') !== want
  }
  const inList = /^([a-zA-Z.]+)\s+in\s+\[(.*)\]$/.exec(c)
  if (inList && FIELDS[inList[1]!]) {
    const values = inList[2]!.split(',').map(literal)
    if (values.some((v) => v === undefined)) return undefined
    const get = FIELDS[inList[1]!]!
    const set = new Set(values)
    return (e) => set.has(get(e))
  }
  const cmp = /^([a-zA-Z.]+)\s*(==|!=|<=|>=|<|>)\s*(.+)$/.exec(c)
  if (!cmp || !FIELDS[cmp[1]!]) return undefined
  const value = literal(cmp[3]!)
  if (value === undefined) return undefined
  const get = FIELDS[cmp[1]!]!
  if (typeof value === 'number' && cmp[1] !== 'responseStatus.code') return undefined
  if (typeof value === 'string' && cmp[1] === 'responseStatus.code') return undefined
  switch (cmp[2]) {
    case '==':
      return (e) => get(e) === value
    case '!=':
      return (e) => get(e) !== value
    case '<':
      return (e) => (get(e) as number) < (value as number)
    case '<=':
      return (e) => (get(e) as number) <= (value as number)
    case '>':
      return (e) => (get(e) as number) > (value as number)
    default:
      return (e) => (get(e) as number) >= (value as number)
  }
}

/** A JS pre-check implied by the condition, or undefined when nothing simple can be taken from it. */
export function prefilterFor(condition: string): ((e: AuditEvent) => boolean) | undefined {
  const expr = unwrap(condition)
  const disjuncts = splitTopLevel(expr, '||')
  if (!disjuncts) return undefined
  if (disjuncts.length > 1) {
    // any one may be the true one: a part without a check lets everything through
    const checks = disjuncts.map(prefilterFor)
    if (checks.some((c) => c === undefined)) return undefined
    return (e) => checks.some((c) => c!(e))
  }
  const conjuncts = splitTopLevel(expr, '&&')
  if (!conjuncts) return undefined
  const checks = conjuncts
    .map((c) => (conjuncts.length > 1 && unwrap(c) !== c ? prefilterFor(c) : compileConjunct(c)))
    .filter((f): f is (e: AuditEvent) => boolean => f !== undefined)
  if (checks.length === 0) return undefined
  if (checks.length === 1) return checks[0]
  return (e) => {
    for (let i = 0; i < checks.length; i++) if (!checks[i]!(e)) return false
    return true
  }
}
