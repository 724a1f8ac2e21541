/**
 * The compiled checker against a literal, uncompiled transcription of checker.go: the two must
 * agree on every policy and request, including odd resource strings the conformance cases do
 * not cover (`pods/`, `*` inside names, resources containing '/').
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { STAGES, type Policy, type PolicyRule } from '../model/index.js'
import { compilePolicy, unionStages } from './evaluate.js'
import type { KubeVersion, RequestAttributes } from './types.js'
import { NEWEST_KUBERNETES, parseKubernetesVersion } from './version.js'

/** checker.go `ruleMatches` and friends, written as close to the Go as TypeScript allows. */
function goRuleMatches(r: PolicyRule, a: RequestAttributes, version: KubeVersion): boolean {
  const has = (list: readonly string[] | undefined, s: string) => (list ?? []).includes(s)
  const len = (list: readonly unknown[] | undefined) => list?.length ?? 0
  if (len(r.users) > 0 && (a.user === null || !has(r.users, a.user))) return false
  if (len(r.userGroups) > 0) {
    if (a.user === null) return false
    if (!a.groups.some((g) => has(r.userGroups, g))) return false
  }
  if (len(r.verbs) > 0 && !has(r.verbs, a.verb)) return false
  if (len(r.namespaces) > 0 || len(r.resources) > 0) {
    if (!a.isResourceRequest) return false
    if (len(r.namespaces) > 0 && !has(r.namespaces, a.namespace)) return false
    if (len(r.resources) === 0) return true
    const combined = a.subresource !== '' ? `${a.resource}/${a.subresource}` : a.resource
    const groupStar = version.minor >= 36
    for (const gr of r.resources ?? []) {
      if ((gr.group ?? '') !== a.apiGroup && !(groupStar && gr.group === '*')) continue
      if (len(gr.resources) === 0) return true
      for (const res of gr.resources ?? []) {
        if (len(gr.resourceNames) !== 0 && !has(gr.resourceNames, a.name)) continue
        if (res === combined || res === '*') return true
        if (a.subresource.length > 0 && res.startsWith('*/') && a.subresource === res.replace(/^[*/]+/, '')) return true
        if (res.endsWith('/*') && a.resource === res.replace(/[/*]+$/, '')) return true
      }
    }
    return false
  }
  if (len(r.nonResourceURLs) > 0) {
    if (a.isResourceRequest) return false
    return (r.nonResourceURLs ?? []).some((spec) => spec === '*' || spec === a.path || (spec.endsWith('*') && a.path.startsWith(spec.replace(/\*+$/, ''))))
  }
  return true
}

function goEvaluate(p: Policy, a: RequestAttributes, version: KubeVersion) {
  const omf = version.minor >= 23
  const rules = p.rules ?? []
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!
    if (goRuleMatches(r, a, version))
      return { ruleIndex: i, level: r.level, omitStages: new Set([...(p.omitStages ?? []), ...(r.omitStages ?? [])]), omitManagedFields: omf && (r.omitManagedFields ?? p.omitManagedFields ?? false) }
  }
  return { ruleIndex: null, level: 'None', omitStages: new Set(p.omitStages ?? []), omitManagedFields: omf && (p.omitManagedFields ?? false) }
}

// Small alphabets so that random rules and requests actually meet.
const word = fc.constantFrom('', 'pods', 'pods/', 'pods/log', 'pods/*', '*', '*/log', '*/*', 'log', 'apps', 'a/b', 'a', 'b', '/healthz', '/healthz*', '/*', 'alice', 'sys', '**')
const words = fc.array(word, { maxLength: 3 })
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })
const groupResources = fc.record({ group: maybe(fc.constantFrom('', 'apps', '*', 'a/b')), resources: maybe(words), resourceNames: maybe(words) }, { requiredKeys: [] })
const rule: fc.Arbitrary<PolicyRule> = fc.record(
  {
    level: fc.constantFrom('None', 'Metadata', 'Request', 'RequestResponse'),
    users: maybe(words),
    userGroups: maybe(words),
    verbs: maybe(fc.array(fc.constantFrom('get', 'list', 'create', '*'), { maxLength: 2 })),
    resources: maybe(fc.array(groupResources, { maxLength: 2 })),
    namespaces: maybe(words),
    nonResourceURLs: maybe(words),
    omitStages: maybe(fc.subarray([...STAGES])),
    omitManagedFields: maybe(fc.boolean()),
  },
  { requiredKeys: ['level'] },
) as fc.Arbitrary<PolicyRule>
const policy: fc.Arbitrary<Policy> = fc.record(
  { rules: fc.array(rule, { maxLength: 4 }), omitStages: maybe(fc.subarray([...STAGES])), omitManagedFields: maybe(fc.boolean()) },
  { requiredKeys: ['rules'] },
)
const attributes: fc.Arbitrary<RequestAttributes> = fc.record({
  user: fc.option(word, { nil: null }),
  groups: words,
  verb: fc.constantFrom('get', 'list', 'create', '*'),
  apiGroup: fc.constantFrom('', 'apps', '*', 'a/b'),
  resource: word,
  subresource: word,
  namespace: word,
  name: word,
  path: word,
  isResourceRequest: fc.boolean(),
})
const version = fc.constantFrom(parseKubernetesVersion('1.20'), parseKubernetesVersion('1.23'), parseKubernetesVersion('1.35'), NEWEST_KUBERNETES)

describe('compilePolicy', () => {
  it('decides exactly as a literal transcription of checker.go, and never throws', () => {
    fc.assert(
      fc.property(policy, fc.array(attributes, { minLength: 1, maxLength: 8 }), version, (p, requests, v) => {
        const evaluator = compilePolicy(p, { kubernetesVersion: v })
        for (const a of requests) {
          const d = evaluator.evaluate(a)
          const want = goEvaluate(p, a, v)
          expect({ ...d, omitStages: new Set(d.omitStages) }).toEqual(want)
        }
      }),
      { numRuns: 3000 },
    )
  })

  const evaluate = (rules: PolicyRule[], a: Partial<RequestAttributes>, v: KubeVersion = NEWEST_KUBERNETES) =>
    compilePolicy({ rules }, { kubernetesVersion: v }).evaluate({ user: 'u', groups: [], verb: 'get', apiGroup: '', resource: 'pods', subresource: '', namespace: 'ns', name: '', path: '/api/v1/namespaces/ns/pods', isResourceRequest: true, ...a })

  it('compares whole resource strings: "pods/" matches neither pods nor a subresource', () => {
    const rules: PolicyRule[] = [{ level: 'Metadata', resources: [{ resources: ['pods/'] }] }]
    expect(evaluate(rules, {}).ruleIndex).toBeNull()
    expect(evaluate(rules, { subresource: 'log' }).ruleIndex).toBeNull()
  })

  it('"pods/*" also matches the parent, "pods" does not match pods/log', () => {
    expect(evaluate([{ level: 'Metadata', resources: [{ resources: ['pods/*'] }] }], {}).level).toBe('Metadata')
    expect(evaluate([{ level: 'Metadata', resources: [{ resources: ['pods'] }] }], { subresource: 'log' }).level).toBe('None')
  })

  it('returns the same frozen decision object for every request a rule matches (no allocation)', () => {
    const e = compilePolicy({ rules: [{ level: 'Request', omitStages: ['Panic'] }] })
    const a = e.evaluate({ user: null, groups: [], verb: 'get', apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path: '/x', isResourceRequest: false })
    const b = e.evaluate({ user: 'x', groups: [], verb: 'list', apiGroup: '', resource: 'pods', subresource: '', namespace: '', name: '', path: '', isResourceRequest: true })
    expect(a).toBe(b)
    expect(Object.isFrozen(a)).toBe(true)
    expect(Object.isFrozen(a.omitStages)).toBe(true)
  })

  it('unionStages is a set in canonical stage order', () => {
    expect(unionStages(['Panic', 'RequestReceived'], ['RequestReceived', 'ResponseStarted'])).toEqual(['RequestReceived', 'ResponseStarted', 'Panic'])
    expect(unionStages(null, undefined)).toEqual([])
  })
})
