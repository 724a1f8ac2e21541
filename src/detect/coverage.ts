/**
 * @module Which rules can never fire under an audit policy: for each rule's sample requests,
 * the policy must log at least the rule's level at one of its stages (the policy engine decides,
 * exactly as the apiserver would).
 */
import { levelAtLeast } from '../model/index.js'
import type { PolicyEvaluator } from '../policy/index.js'
import type { Rule } from './rules.js'

export interface CoverageResult {
  rule: string
  status: 'covered' | 'partial' | 'never' | 'unknown'
  reasons: string[]
}

export function ruleCoverage(rules: readonly Rule[], policy: PolicyEvaluator): CoverageResult[] {
  return rules.map((rule) => {
    if (rule.requires.samples.length === 0) return { rule: rule.id, status: 'unknown', reasons: ['no sample requests in requires.samples'] }
    const reasons: string[] = []
    let ok = 0
    for (const s of rule.requires.samples) {
      const d = policy.evaluate(s)
      const what = `${s.verb} ${s.resource}${s.subresource ? `/${s.subresource}` : ''}${s.namespace ? ` in ${s.namespace}` : ''}`
      const loggedStages = rule.requires.stages.filter((st) => !d.omitStages.includes(st))
      if (d.level === 'None') reasons.push(`${what}: not logged (rule ${d.ruleIndex === null ? 'none matches' : `#${d.ruleIndex}`}, level None)`)
      else if (!levelAtLeast(d.level, rule.requires.level)) reasons.push(`${what}: logged at ${d.level}, the rule needs ${rule.requires.level} (rule #${d.ruleIndex})`)
      else if (loggedStages.length === 0) reasons.push(`${what}: stages ${rule.requires.stages.join(', ')} omitted (rule #${d.ruleIndex})`)
      else ok++
    }
    return { rule: rule.id, status: ok === rule.requires.samples.length ? 'covered' : ok === 0 ? 'never' : 'partial', reasons }
  })
}
