/**
 * @module One-line, human summaries of policy rules, for `explain`, `simulate` and `diff`.
 */
import type { GroupResources, PolicyRule } from '../model/index.js'

function list(values: readonly string[] | undefined): string | undefined {
  return values && values.length > 0 ? `[${values.join(',')}]` : undefined
}

function groupResources(gr: GroupResources): string {
  const group = gr.group === undefined || gr.group === '' ? 'core' : gr.group
  const names = gr.resourceNames && gr.resourceNames.length > 0 ? `(${gr.resourceNames.join(',')})` : ''
  if (!gr.resources || gr.resources.length === 0) return `${group}/*${names}`
  return gr.resources.map((r) => `${group}/${r}${names}`).join(',')
}

/** E.g. `level=Request verbs=[create,update] resources=[apps/deployments,core/pods]`. */
export function describeRule(rule: PolicyRule): string {
  const parts = [`level=${rule.level ?? '(missing)'}`]
  const add = (key: string, value: string | undefined) => {
    if (value !== undefined) parts.push(`${key}=${value}`)
  }
  add('users', list(rule.users))
  add('userGroups', list(rule.userGroups))
  add('verbs', list(rule.verbs))
  add('resources', rule.resources && rule.resources.length > 0 ? `[${rule.resources.map(groupResources).join(',')}]` : undefined)
  add('namespaces', list(rule.namespaces?.map((n) => (n === '' ? '""' : n))))
  add('nonResourceURLs', list(rule.nonResourceURLs))
  add('omitStages', list(rule.omitStages))
  if (rule.omitManagedFields !== undefined) add('omitManagedFields', String(rule.omitManagedFields))
  if (parts.length === 1) parts.push('(matches every request)')
  return parts.join(' ')
}
