/**
 * @module Reading the cluster's RBAC from a dump: the output of
 * `kubectl get roles,rolebindings,clusterroles,clusterrolebindings -A -o yaml` (a `List`), or
 * any YAML/JSON file of such objects (several documents, or a bare list). A broken object is
 * reported with its file, line and field, and the others are still read.
 */
import { readFileSync } from 'node:fs'
import { isMap, isSeq, LineCounter, parseAllDocuments, type Node } from 'yaml'
import { FileNotFoundError, FileReadError, InputInvalidError, type InputIssue } from '../core/errors.js'
import { ObjectInvalid, rbacObjectFrom } from './objects.js'
import type { RbacObject } from './types.js'

export interface LoadedRbac {
  objects: RbacObject[]
  /** Objects that could not be read (skipped), with where and why. */
  issues: InputIssue[]
  /** Objects of other kinds in the file (ignored). */
  ignored: number
}

export class RbacDumpInvalidError extends InputInvalidError {
  constructor(file: string, issues: InputIssue[]) {
    super('KT_RBAC_INVALID', `${file}: no RBAC objects could be read`, issues, 'Give the output of `kubectl get roles,rolebindings,clusterroles,clusterrolebindings -A -o yaml`.')
  }
}

/** Reads RBAC objects from YAML or JSON text. */
export function parseRbacDump(text: string, file: string): LoadedRbac {
  const lines = new LineCounter()
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: false })
  const issues: InputIssue[] = []
  const objects: RbacObject[] = []
  let ignored = 0
  const lineOf = (node: unknown) => {
    const range = (node as { range?: [number, number, number] } | undefined)?.range
    return range ? lines.linePos(range[0]) : undefined
  }
  const take = (node: Node, path: string) => {
    try {
      const o = rbacObjectFrom(node.toJSON())
      if (o) objects.push(o)
      else ignored++
    } catch (error) {
      if (!(error instanceof ObjectInvalid)) throw error
      const pos = lineOf(node)
      issues.push({ file, line: pos?.line, column: pos?.col, field: path ? `${path}.${error.problem.field}` : error.problem.field, message: error.problem.message })
    }
  }
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    for (const e of doc.errors) issues.push({ file, line: e.linePos?.[0]?.line, column: e.linePos?.[0]?.col, message: e.message.split('\n')[0]! })
    if (doc.errors.length > 0) continue
    const root = doc.contents
    if (root === null) continue
    // a List (kubectl's output) or a bare sequence of objects
    const items: unknown = isMap(root) && String(root.get('kind')) === 'List' ? root.get('items', true) : root
    if (isSeq(items)) items.items.forEach((item, i) => take(item as Node, isMap(root) ? `items[${i}]` : `[${i}]`))
    else if (isMap(items)) take(items as Node, '')
    else if (items !== undefined && items !== null) {
      const pos = lineOf(items)
      issues.push({ file, line: pos?.line, message: 'expected a List, an RBAC object or a list of them' })
    }
  }
  return { objects, issues, ignored }
}

export function loadRbacFile(path: string): LoadedRbac {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileNotFoundError(path, 'RBAC dump')
    throw new FileReadError(path, error)
  }
  const loaded = parseRbacDump(text, path)
  if (loaded.objects.length === 0 && loaded.issues.length > 0) throw new RbacDumpInvalidError(path, loaded.issues)
  return loaded
}
