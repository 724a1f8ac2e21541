/**
 * @module A fast pre-check for a rule: the simple top-level conjuncts of its condition
 * (`objectRef.resource == "secrets"`, `verb in ["get", "list"]`, `responseStatus.code < 300`)
 * compiled to plain JavaScript. Most events fail one of them, so the CEL interpreter runs only
 * for the few that might match; the CEL condition still decides. Sound only for conditions
 * whose top level is a chain of `&&` (checked), where any false conjunct makes the whole false.
 */
import { isExternalIP, type AuditEvent } from '../model/index.js'

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

/** The top-level `&&` operands, or undefined when the top level has `||` or `?:`. */
export function topLevelConjuncts(expr: string): string[] | undefined {
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
    else if (depth === 0 && expr.startsWith('||', i)) return undefined
    else if (depth === 0 && expr.startsWith('&&', i)) {
      parts.push(expr.slice(start, i).trim())
      start = i + 2
      i++
    }
  }
  parts.push(expr.slice(start).trim())
  return parts
}

function literal(text: string): string | number | undefined {
  const t = text.trim()
  if (/^"[^"\\]*"$/.test(t)) return t.slice(1, -1)
  if (/^-?\d+$/.test(t)) return Number(t)
  return undefined
}

function compileConjunct(c: string): ((e: AuditEvent) => boolean) | undefined {
  if (/^sourceIPs\.exists\((\w+),\s*isExternalIP\(\1\)\)$/.test(c)) return (e) => (e.sourceIPs ?? []).some(isExternalIP)
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
  const conjuncts = topLevelConjuncts(condition)
  if (!conjuncts) return undefined
  const checks = conjuncts.map(compileConjunct).filter((f): f is (e: AuditEvent) => boolean => f !== undefined)
  if (checks.length === 0) return undefined
  if (checks.length === 1) return checks[0]
  return (e) => {
    for (let i = 0; i < checks.length; i++) if (!checks[i]!(e)) return false
    return true
  }
}
