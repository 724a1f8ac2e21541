/**
 * @module What changed between two versions of a Kubernetes object: leaf paths added, removed
 * or changed, ignoring bookkeeping fields the apiserver rewrites on every write.
 */
import { isJsonObject } from '../core/json.js'

const IGNORED = new Set(['metadata.managedFields', 'metadata.resourceVersion', 'metadata.generation', 'metadata.uid', 'metadata.creationTimestamp', 'status'])

export interface FieldChange {
  path: string
  before?: unknown
  after?: unknown
}

function walk(a: unknown, b: unknown, path: string, out: FieldChange[]): void {
  if (IGNORED.has(path)) return
  if (isJsonObject(a) && isJsonObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], path ? `${path}.${k}` : k, out)
    return
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`, out))
    return
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return
  out.push({ path, ...(a === undefined ? {} : { before: a }), ...(b === undefined ? {} : { after: b }) })
}

export function diffObjects(before: unknown, after: unknown): FieldChange[] {
  const out: FieldChange[] = []
  walk(before, after, '', out)
  return out
}

export function formatChange(c: FieldChange): string {
  const show = (v: unknown) => {
    const s = JSON.stringify(v)
    return s.length > 120 ? `${s.slice(0, 117)}...` : s
  }
  if (!('before' in c)) return `+ ${c.path}: ${show(c.after)}`
  if (!('after' in c)) return `- ${c.path}: ${show(c.before)}`
  return `~ ${c.path}: ${show(c.before)} → ${show(c.after)}`
}
