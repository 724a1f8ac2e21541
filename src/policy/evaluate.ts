/**
 * @module The policy checker: which rule a request hits and what that rule decides.
 * A line-by-line port of k8s.io/apiserver `pkg/audit/policy/checker.go`
 * (`NewPolicyRuleEvaluator`, `EvaluatePolicyRule`, `ruleMatches`, `ruleMatchesResource`,
 * `ruleMatchesNonResource`, `pathMatches`, `unionStages`), compiled once per policy so that a
 * decision costs a few Set lookups and allocates nothing.
 */
import { STAGES, type Level, type Policy, type PolicyRule, type Stage } from '../model/index.js'
import type { Decision, KubeVersion, RequestAttributes } from './types.js'
import { NEWEST_KUBERNETES, supports } from './version.js'

export interface CompileOptions {
  kubernetesVersion?: KubeVersion
}

export interface PolicyEvaluator {
  evaluate(attrs: RequestAttributes): Decision
  /** The decision for each rule, in order (index = rule index). */
  readonly ruleDecisions: readonly Decision[]
  /** What a request that matches no rule gets. */
  readonly noMatch: Decision
}

/** Set union in canonical stage order (`unionStages`; the apiserver's order is a map's). */
export function unionStages(a: readonly string[] | null | undefined, b: readonly string[] | null | undefined): Stage[] {
  const all = new Set([...(a ?? []), ...(b ?? [])])
  const known = STAGES.filter((s) => all.has(s))
  // Unknown names cannot pass validation, but evaluation of unvalidated policies keeps them.
  const unknown = [...all].filter((s) => !(STAGES as readonly string[]).includes(s)).sort()
  return [...known, ...(unknown as Stage[])]
}

type Matcher = (a: RequestAttributes) => boolean

/** Go's strings.TrimLeft/TrimRight take a *cutset*, not a prefix: every leading/trailing char in it goes. */
function trimLeftCutset(s: string, cutset: string): string {
  let i = 0
  while (i < s.length && cutset.includes(s[i]!)) i++
  return s.slice(i)
}

function trimRightCutset(s: string, cutset: string): string {
  let i = s.length
  while (i > 0 && cutset.includes(s[i - 1]!)) i--
  return s.slice(0, i)
}

/** One entry of `GroupResources.resources`, pre-split into the forms checker.go compares. */
interface CompiledResource {
  /** Compared with `combinedResource` (resource or resource/subresource) as a whole string. */
  exact: string
  /** `res == "*"` */
  star: boolean
  /** The `*` + `/sub` form: the subresource it matches (after Go's TrimLeft with cutset "*" and "/"). */
  anyResourceWithSub: string | null
  /** The `res` + `/*` form: the resource it matches (after Go's TrimRight with cutset "/" and "*"); also matches `res` itself. */
  resourceWithAnySub: string | null
}

interface CompiledGroupResources {
  wholeGroup: boolean
  resourceNames: ReadonlySet<string> | null
  resources: CompiledResource[]
}

function compileResource(res: string): CompiledResource {
  return {
    exact: res,
    star: res === '*',
    anyResourceWithSub: res.startsWith('*/') ? trimLeftCutset(res, '*/') : null,
    resourceWithAnySub: res.endsWith('/*') ? trimRightCutset(res, '/*') : null,
  }
}

/**
 * `res == combinedResource` without building `resource + "/" + subresource` per call. Comparing
 * the whole string (not res split at '/') keeps checker.go's answer for odd entries such as
 * `pods/` (matches nothing) and for resources that themselves contain '/'.
 */
function equalsCombined(res: string, resource: string, subresource: string): boolean {
  if (subresource === '') return res === resource
  return (
    res.length === resource.length + 1 + subresource.length &&
    res.charCodeAt(resource.length) === 47 &&
    res.startsWith(resource) &&
    res.endsWith(subresource)
  )
}

function resourceMatches(r: CompiledResource, resource: string, subresource: string): boolean {
  if (r.star) return true
  if (equalsCombined(r.exact, resource, subresource)) return true
  if (subresource !== '' && r.anyResourceWithSub !== null && r.anyResourceWithSub === subresource) return true
  return r.resourceWithAnySub !== null && r.resourceWithAnySub === resource
}

function groupMatches(gr: CompiledGroupResources, a: RequestAttributes): boolean {
  if (gr.wholeGroup) return true
  // resourceNames filter every resource of the entry (checked inside the loop in checker.go)
  if (gr.resourceNames !== null && !gr.resourceNames.has(a.name)) return false
  for (const r of gr.resources) if (resourceMatches(r, a.resource, a.subresource)) return true
  return false
}

function compileResourceRule(rule: PolicyRule, version: KubeVersion): Matcher {
  const namespaces = rule.namespaces && rule.namespaces.length > 0 ? new Set(rule.namespaces) : null
  const byGroup = new Map<string, CompiledGroupResources[]>()
  const anyGroup: CompiledGroupResources[] = []
  const groupWildcard = supports(version, 'groupWildcard')
  for (const gr of rule.resources ?? []) {
    const compiled: CompiledGroupResources = {
      wholeGroup: !gr.resources || gr.resources.length === 0,
      resourceNames: gr.resourceNames && gr.resourceNames.length > 0 ? new Set(gr.resourceNames) : null,
      resources: (gr.resources ?? []).map(compileResource),
    }
    const group = gr.group ?? ''
    if (group === '*' && groupWildcard) anyGroup.push(compiled)
    else {
      const list = byGroup.get(group) ?? []
      list.push(compiled)
      byGroup.set(group, list)
    }
  }
  const hasResources = (rule.resources?.length ?? 0) > 0
  return (a) => {
    if (!a.isResourceRequest) return false
    if (namespaces !== null && !namespaces.has(a.namespace)) return false
    if (!hasResources) return true
    const entries = byGroup.get(a.apiGroup)
    if (entries !== undefined) for (const gr of entries) if (groupMatches(gr, a)) return true
    for (const gr of anyGroup) if (groupMatches(gr, a)) return true
    return false
  }
}

function compileNonResourceRule(specs: readonly string[]): Matcher {
  const star = specs.includes('*')
  const exact = new Set(specs)
  const prefixes = specs.filter((s) => s.endsWith('*')).map((s) => trimRightCutset(s, '*'))
  return (a) => {
    if (a.isResourceRequest) return false
    if (star || exact.has(a.path)) return true
    for (const p of prefixes) if (a.path.startsWith(p)) return true
    return false
  }
}

/** `ruleMatches`: users, userGroups and verbs are ANDed with the resource or non-resource part. */
export function compileRuleMatcher(rule: PolicyRule, version: KubeVersion = NEWEST_KUBERNETES): Matcher {
  const users = rule.users && rule.users.length > 0 ? new Set(rule.users) : null
  const groups = rule.userGroups && rule.userGroups.length > 0 ? new Set(rule.userGroups) : null
  const verbs = rule.verbs && rule.verbs.length > 0 ? new Set(rule.verbs) : null
  const isResourceRule = (rule.namespaces?.length ?? 0) > 0 || (rule.resources?.length ?? 0) > 0
  const target: Matcher | null = isResourceRule
    ? compileResourceRule(rule, version)
    : (rule.nonResourceURLs?.length ?? 0) > 0
      ? compileNonResourceRule(rule.nonResourceURLs!)
      : null
  return (a) => {
    if (users !== null && (a.user === null || !users.has(a.user))) return false
    if (groups !== null) {
      if (a.user === null) return false
      let any = false
      for (const g of a.groups)
        if (groups.has(g)) {
          any = true
          break
        }
      if (!any) return false
    }
    if (verbs !== null && !verbs.has(a.verb)) return false
    return target === null || target(a)
  }
}

/** `NewPolicyRuleEvaluator` + `EvaluatePolicyRule`: first matching rule wins. */
export function compilePolicy(policy: Policy, options: CompileOptions = {}): PolicyEvaluator {
  const version = options.kubernetesVersion ?? NEWEST_KUBERNETES
  // Before 1.23 the field does not exist: the decoder drops it and nothing is omitted.
  const omf = supports(version, 'omitManagedFields')
  const policyOmf = omf && policy.omitManagedFields === true
  const rules = policy.rules ?? []
  const matchers = rules.map((r) => compileRuleMatcher(r, version))
  const ruleDecisions: Decision[] = rules.map((r, i) =>
    Object.freeze({
      ruleIndex: i,
      level: (r.level ?? '') as Level,
      omitStages: Object.freeze(unionStages(policy.omitStages, r.omitStages)),
      omitManagedFields: omf && typeof r.omitManagedFields === 'boolean' ? r.omitManagedFields : policyOmf, // isOmitManagedFields: nil → policy's
    }),
  )
  const noMatch: Decision = Object.freeze({
    ruleIndex: null,
    level: 'None',
    omitStages: Object.freeze(unionStages(policy.omitStages, [])),
    omitManagedFields: policyOmf,
  })
  const n = matchers.length
  return {
    ruleDecisions,
    noMatch,
    evaluate(attrs) {
      for (let i = 0; i < n; i++) if (matchers[i]!(attrs)) return ruleDecisions[i]!
      return noMatch
    },
  }
}
