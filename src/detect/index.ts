/**
 * @module Detection: rule files (YAML, CEL conditions), the engine (per-event, rate and
 * distinct-count windows), the built-in pack, and coverage of a rule set under an audit policy.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseRules, RulesInvalidError, type Rule } from './rules.js'
import type { InputIssue } from '../core/errors.js'

export { parseRules, parseWindow, RulesInvalidError, SEVERITIES, type Rule, type Severity } from './rules.js'
export { Detector, type Alert } from './engine.js'
export { ruleCoverage, type CoverageResult } from './coverage.js'

export const BUILTIN_RULES_FILE = fileURLToPath(new URL('./builtin/kubernetes.yaml', import.meta.url))

/** Rules from files and directories (*.yaml, *.yml); problems are collected, not thrown. */
export function loadRuleFiles(paths: readonly string[]): { rules: Rule[]; issues: InputIssue[] } {
  const rules: Rule[] = []
  const issues: InputIssue[] = []
  const files = paths.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(p, f)) : [p]))
  for (const file of files) {
    const r = parseRules(readFileSync(file, 'utf8'), file)
    rules.push(...r.rules)
    issues.push(...r.issues)
  }
  return { rules, issues }
}

export function builtinRules(): Rule[] {
  const r = parseRules(readFileSync(BUILTIN_RULES_FILE, 'utf8'), BUILTIN_RULES_FILE)
  if (r.issues.length > 0) throw new RulesInvalidError(BUILTIN_RULES_FILE, r.issues)
  return r.rules
}
export { AlertDispatcher, alertId, alertmanagerSink, slackSink, webhookSink, type AlertSink } from './sinks.js'
