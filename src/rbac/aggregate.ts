/**
 * @module ClusterRole aggregation as the clusterrole-aggregation controller computes it
 * (`pkg/controller/clusterroleaggregation`): an aggregated role's rules are the rules of every
 * ClusterRole its selectors pick (each selector in order, the roles of one selector by name, the
 * role itself skipped), each distinct rule once. The controller re-runs whenever any ClusterRole
 * changes, so chains (admin ← edit ← view) settle: here, by repeating until nothing changes.
 */
import type { ClusterRole, LabelSelector, PolicyRule } from './types.js'

/** `metav1.LabelSelectorAsSelector`: an empty selector matches every object. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) if (labels[k] !== v) return false
  for (const r of selector.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key)
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(labels[r.key]!)) return false
        break
      case 'NotIn':
        if (has && r.values.includes(labels[r.key]!)) return false
        break
      case 'Exists':
        if (!has) return false
        break
      case 'DoesNotExist':
        if (has) return false
        break
    }
  }
  return true
}

/** Semantic equality of rules: nil and empty lists are the same, order matters. */
export function sameRule(a: PolicyRule, b: PolicyRule): boolean {
  const eq = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((v, i) => v === y[i])
  return eq(a.verbs, b.verbs) && eq(a.apiGroups, b.apiGroups) && eq(a.resources, b.resources) && eq(a.resourceNames, b.resourceNames) && eq(a.nonResourceURLs, b.nonResourceURLs)
}

function aggregatedRules(role: ClusterRole, byName: readonly ClusterRole[]): PolicyRule[] {
  const rules: PolicyRule[] = []
  for (const selector of role.aggregationRule!.clusterRoleSelectors)
    for (const other of byName) {
      if (other.name === role.name || !selectorMatches(selector, other.labels)) continue
      for (const rule of other.rules) if (!rules.some((r) => sameRule(r, rule))) rules.push(rule)
    }
  return rules
}

/**
 * The ClusterRoles with every aggregated role's rules filled in (new objects; the input is not
 * changed). Settles in at most one pass per aggregated role plus one.
 */
export function aggregateClusterRoles(roles: readonly ClusterRole[]): ClusterRole[] {
  const current = roles.map((r) => ({ ...r }))
  const byName = [...current].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const aggregated = current.filter((r) => r.aggregationRule !== undefined)
  for (let pass = 0; pass <= aggregated.length; pass++) {
    let changed = false
    for (const role of aggregated) {
      const rules = aggregatedRules(role, byName)
      if (rules.length === role.rules.length && rules.every((r, i) => sameRule(r, role.rules[i]!))) continue
      role.rules = rules
      changed = true
    }
    if (!changed) break
  }
  return current
}
