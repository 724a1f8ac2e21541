/**
 * @module Detection rule files: YAML with a `rules:` list. Each rule is checked on load (known
 * fields, types, CEL conditions and output templates type-checked against the Event), and every
 * problem carries file:line. One broken rule never stops the others: it is reported and skipped.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml'
import type { InputIssue } from '../core/errors.js'
import { InputInvalidError } from '../core/errors.js'
import { isLevel, isStage, type Level, type Stage } from '../model/index.js'
import { attributesFromRequest, type RequestAttributes } from '../policy/index.js'
import { ruleEnvironment } from './cel-env.js'

export const SEVERITIES = ['info', 'warning', 'high', 'critical'] as const
export type Severity = (typeof SEVERITIES)[number]

type Program = (ctx: Record<string, unknown>) => unknown

export interface Rule {
  id: string
  title: string
  description: string
  severity: Severity
  /** MITRE ATT&CK for Containers technique ids. */
  tags: string[]
  condition: string
  output: string
  exceptions: { users: string[]; groups: string[]; namespaces: string[]; condition?: string }
  requires: { level: Level; stages: Stage[]; samples: RequestAttributes[] }
  /** N matching events within a window, per group (and optionally N distinct values). */
  rate?: { count: number; windowMs: number; groupBy?: string; distinct?: string }
  file: string
  line: number
  compiled: {
    condition: Program
    exception?: Program
    output: Array<string | Program>
    groupBy?: Program
    distinct?: Program
  }
}

export class RulesInvalidError extends InputInvalidError {
  constructor(file: string, issues: InputIssue[]) {
    super('KT_RULES_INVALID', `${file}: detection rules with errors`, issues, 'Fix the rules above; `kubetrail rules check FILE` lists every problem. The other rules still run.')
  }
}

const RULE_FIELDS = new Set(['id', 'title', 'description', 'severity', 'tags', 'condition', 'output', 'exceptions', 'requires', 'rate'])
const EXCEPTION_FIELDS = new Set(['users', 'groups', 'namespaces', 'condition'])
const REQUIRES_FIELDS = new Set(['level', 'stages', 'samples'])
const RATE_FIELDS = new Set(['count', 'window', 'groupBy', 'distinct'])

/** `30s`, `5m`, `1h` → milliseconds. */
export function parseWindow(text: string): number | undefined {
  const m = /^(\d+)(s|m|h)$/.exec(text)
  return m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'] : undefined
}

function compileCel(expr: string): { program?: Program; error?: string } {
  const env = ruleEnvironment()
  try {
    const checked = env.check(expr)
    if (!checked.valid) return { error: String(checked.error?.message ?? checked.error).trim() }
    return { program: env.parse(expr) as unknown as Program }
  } catch (error) {
    return { error: (error as Error).message.trim() }
  }
}

/** `text {{ expr }} text` → literal and compiled parts. */
function compileTemplate(template: string): { parts?: Array<string | Program>; error?: string } {
  const parts: Array<string | Program> = []
  let i = 0
  while (i < template.length) {
    const open = template.indexOf('{{', i)
    if (open < 0) {
      parts.push(template.slice(i))
      break
    }
    const close = template.indexOf('}}', open + 2)
    if (close < 0) return { error: `unclosed "{{" at column ${open + 1}` }
    if (open > i) parts.push(template.slice(i, open))
    const expr = template.slice(open + 2, close).trim()
    if (expr === '') return { error: `empty "{{ }}" at column ${open + 1}` }
    const c = compileCel(expr)
    if (c.error) return { error: `{{ ${expr} }}: ${c.error.split('\n')[0]}` }
    parts.push(c.program!)
    i = close + 2
  }
  return { parts }
}

/** Parses and checks a rule file; bad rules come back as issues, good ones as rules. */
export function parseRules(text: string, file: string): { rules: Rule[]; issues: InputIssue[] } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true })
  const issues: InputIssue[] = []
  const at = (node: unknown, message: string, field?: string) => {
    const range = (node as { range?: [number, number, number] } | undefined)?.range
    const pos = range ? lines.linePos(range[0]) : undefined
    issues.push({ file, line: pos?.line, column: pos?.col, field, message })
  }
  for (const e of doc.errors) issues.push({ file, line: e.linePos?.[0]?.line, column: e.linePos?.[0]?.col, message: e.message.split('\n')[0]! })
  if (doc.errors.length > 0) return { rules: [], issues }
  const root = doc.contents
  const list = isMap(root) ? root.get('rules', true) : root
  if (!isSeq(list)) {
    at(root, 'a rule file is a map with a "rules:" list (or a list of rules)')
    return { rules: [], issues }
  }
  const rules: Rule[] = []
  const seen = new Map<string, number>()
  list.items.forEach((item, index) => {
    const before = issues.length
    const rule = parseRule(item as Node, index, file, at)
    if (!rule || issues.length > before) return
    const range = (item as { range?: [number, number, number] }).range
    rule.line = range ? lines.linePos(range[0]).line : 0
    if (seen.has(rule.id)) {
      at(item, `duplicate rule id "${rule.id}" (first at line ${seen.get(rule.id)})`, `rules[${index}].id`)
      return
    }
    seen.set(rule.id, rule.line)
    rules.push(rule)
  })
  return { rules, issues }
}

type Report = (node: unknown, message: string, field?: string) => void

/** Reports every key of `map` that is not one of `allowed`. */
function checkFields(map: YAMLMap, allowed: Set<string>, path: string, at: Report): void {
  for (const pair of map.items) {
    const key = String((pair.key as { value?: unknown })?.value)
    if (!allowed.has(key)) at(pair.key, `unknown field "${key}" (fields: ${[...allowed].join(', ')})`, `${path}.${key}`)
  }
}

/** A CEL expression field: its text and program; a non-string or a CEL error is reported at the node. */
function celField(node: Node, field: string, at: Report): { text?: string; program?: Program } {
  if (!isScalar(node) || typeof node.value !== 'string') {
    at(node, 'must be a string', field)
    return {}
  }
  const compiled = compileCel(node.value)
  if (compiled.error) at(node, `CEL: ${compiled.error}`, field)
  return { text: node.value, program: compiled.program }
}

function parseRule(item: Node, index: number, file: string, at: Report): Rule | undefined {
  const path = `rules[${index}]`
  if (!isMap(item)) {
    at(item, 'a rule must be a map', path)
    return undefined
  }
  const map = item as YAMLMap
  checkFields(map, RULE_FIELDS, path, at)
  const str = (key: string, required: boolean): string => {
    const node = map.get(key, true) as Node | undefined
    if (node === undefined) {
      if (required) at(item, `missing field ${key}`, `${path}.${key}`)
      return ''
    }
    if (!isScalar(node) || typeof node.value !== 'string') {
      at(node, 'must be a string', `${path}.${key}`)
      return ''
    }
    return node.value
  }
  const strings = (parent: YAMLMap, key: string, p: string): string[] => {
    const node = parent.get(key, true) as Node | undefined
    if (node === undefined) return []
    if (!isSeq(node) || node.items.some((i) => !isScalar(i) || typeof i.value !== 'string')) {
      at(node, 'must be a list of strings', `${p}.${key}`)
      return []
    }
    return node.items.map((i) => String((i as { value: unknown }).value))
  }
  const id = str('id', true)
  if (id && !/^[a-z0-9][a-z0-9-]*$/.test(id)) at(map.get('id', true), 'ids are lowercase words joined by "-"', `${path}.id`)
  const severity = str('severity', true)
  if (severity && !(SEVERITIES as readonly string[]).includes(severity)) at(map.get('severity', true), `severity must be one of ${SEVERITIES.join(', ')}`, `${path}.severity`)
  const condition = str('condition', true)
  const conditionNode = map.get('condition', true)
  const compiledCondition = condition ? compileCel(condition) : {}
  if (compiledCondition.error) at(conditionNode, `CEL: ${compiledCondition.error}`, `${path}.condition`)
  const output = str('output', true)
  const compiledOutput = output ? compileTemplate(output) : {}
  if (compiledOutput.error) at(map.get('output', true), `template: ${compiledOutput.error}`, `${path}.output`)
  const exceptions: Rule['exceptions'] = { users: [], groups: [], namespaces: [] }
  let exceptionProgram: Program | undefined
  const exNode = map.get('exceptions', true)
  if (exNode !== undefined) {
    if (!isMap(exNode)) at(exNode, 'must be a map', `${path}.exceptions`)
    else {
      checkFields(exNode, EXCEPTION_FIELDS, `${path}.exceptions`, at)
      exceptions.users = strings(exNode, 'users', `${path}.exceptions`)
      exceptions.groups = strings(exNode, 'groups', `${path}.exceptions`)
      exceptions.namespaces = strings(exNode, 'namespaces', `${path}.exceptions`)
      const c = exNode.get('condition', true) as Node | undefined
      if (c !== undefined) {
        const field = celField(c, `${path}.exceptions.condition`, at)
        exceptions.condition = field.text
        exceptionProgram = field.program
      }
    }
  }
  const requires: Rule['requires'] = { level: 'Metadata', stages: ['ResponseStarted', 'ResponseComplete', 'Panic'], samples: [] }
  const reqNode = map.get('requires', true)
  if (reqNode !== undefined) {
    if (!isMap(reqNode)) at(reqNode, 'must be a map', `${path}.requires`)
    else {
      checkFields(reqNode, REQUIRES_FIELDS, `${path}.requires`, at)
      const level = reqNode.get('level')
      if (level !== undefined) {
        if (!isLevel(level) || level === 'None') at(reqNode.get('level', true), 'level must be Metadata, Request or RequestResponse', `${path}.requires.level`)
        else requires.level = level
      }
      const stages = strings(reqNode, 'stages', `${path}.requires`)
      if (stages.length > 0) {
        const bad = stages.filter((s) => !isStage(s))
        if (bad.length > 0) at(reqNode.get('stages', true), `not a stage: ${bad.join(', ')}`, `${path}.requires.stages`)
        else requires.stages = stages as Stage[]
      }
      const samples = reqNode.get('samples', true) as Node | undefined
      if (samples !== undefined) {
        if (!isSeq(samples)) at(samples, 'must be a list of requests (as in `policy explain --requests`)', `${path}.requires.samples`)
        else
          samples.items.forEach((s, i) => {
            try {
              requires.samples.push(attributesFromRequest((s as Node).toJSON()))
            } catch (error) {
              at(s, (error as Error).message, `${path}.requires.samples[${i}]`)
            }
          })
      }
    }
  }
  let rate: Rule['rate']
  let groupBy: Program | undefined
  let distinct: Program | undefined
  const rateNode = map.get('rate', true)
  if (rateNode !== undefined) {
    if (!isMap(rateNode)) at(rateNode, 'must be a map', `${path}.rate`)
    else {
      checkFields(rateNode, RATE_FIELDS, `${path}.rate`, at)
      const count = rateNode.get('count')
      const window = rateNode.get('window')
      const windowMs = typeof window === 'string' ? parseWindow(window) : undefined
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 2) at(rateNode.get('count', true) ?? rateNode, 'count must be an integer >= 2', `${path}.rate.count`)
      if (windowMs === undefined) at(rateNode.get('window', true) ?? rateNode, 'window must be a duration like 30s, 5m, 1h', `${path}.rate.window`)
      for (const key of ['groupBy', 'distinct'] as const) {
        const v = rateNode.get(key, true) as Node | undefined
        if (v === undefined) continue
        const { program } = celField(v, `${path}.rate.${key}`, at)
        if (key === 'groupBy') groupBy = program
        else distinct = program
      }
      if (typeof count === 'number' && windowMs !== undefined) rate = { count, windowMs, groupBy: rateNode.get('groupBy') as string | undefined, distinct: rateNode.get('distinct') as string | undefined }
    }
  }
  if (!compiledCondition.program || !compiledOutput.parts) return undefined
  return {
    id,
    title: str('title', true),
    description: str('description', false),
    severity: severity as Severity,
    tags: strings(map, 'tags', path),
    condition,
    output,
    exceptions,
    requires,
    rate,
    file,
    line: 0,
    compiled: { condition: compiledCondition.program, exception: exceptionProgram, output: compiledOutput.parts, groupBy, distinct },
  }
}
