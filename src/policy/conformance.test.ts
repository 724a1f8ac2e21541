/**
 * The policy conformance suite: every case of research/policy-conformance-cases.json (taken
 * from kube-apiserver's own checker, validation and reader tests, plus derived quirks checked
 * against the real v1.20.2 code) run through the engine. One case table, run by
 * `runPolicyConformance` against an engine, so another implementation can run the same table.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CONFORMANCE_CASES, requireFixture } from '../../test/support/fixtures.js'
import type { Policy } from '../model/index.js'
import { compilePolicy, unionStages } from './evaluate.js'
import { loadPolicyText, parsePolicyObject, PolicyInvalidError } from './load.js'
import { formatAggregate, validatePolicy } from './validate.js'
import { parseKubernetesVersion } from './version.js'
import type { Decision, KubeVersion, RequestAttributes } from './types.js'

/** A request as the case file writes it: `groups` may be null. */
type CaseRequest = Omit<RequestAttributes, 'groups'> & { groups: string[] | null }

type ConformanceCase =
  | { kind: 'evaluate'; id: string; policyRules: Policy['rules']; policyOmitStages: string[] | null; policyOmitManagedFields: boolean; request: CaseRequest; expected: { level: string; omitStages: string[]; omitManagedFields: boolean }; minKubernetesVersion?: string; newerThan120?: boolean; newerThan120Reason?: string }
  | { kind: 'validate'; id: string; policy: Policy; expectValid: boolean; errorSubstring?: string; expectedMessage?: string; minKubernetesVersion?: string; newerThan120?: boolean; newerThan120Reason?: string }
  | { kind: 'load'; id: string; policyYAML: string; expectValid: boolean; errorSubstring?: string }
  | { kind: 'unionStages'; id: string; a: string[] | null; b: string[] | null; expected: string[] }

/** What an implementation of the policy engine must provide to run the suite. */
export interface PolicyEngine {
  evaluate(policy: Policy, request: RequestAttributes, version: KubeVersion): Decision
  validate(policy: Policy, version: KubeVersion): string | null
  load(yaml: string, version: KubeVersion): { ok: true } | { ok: false; message: string }
  unionStages(a: readonly string[] | null, b: readonly string[] | null): string[]
}

const CASES = JSON.parse(readFileSync(requireFixture(CONFORMANCE_CASES), 'utf8')) as ConformanceCase[]

const NEWEST = parseKubernetesVersion(undefined)

function policyOf(c: Extract<ConformanceCase, { kind: 'evaluate' }>): Policy {
  return {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    rules: c.policyRules,
    ...(c.policyOmitStages ? { omitStages: c.policyOmitStages } : {}),
    ...(c.policyOmitManagedFields ? { omitManagedFields: true } : {}),
  }
}

function attributesOf(r: CaseRequest): RequestAttributes {
  return { ...r, groups: r.groups ?? [] }
}

const sorted = (s: readonly string[]) => [...s].sort()

const V120 = parseKubernetesVersion('1.20')
const needsGroupStar = (c: { newerThan120Reason?: string }) => c.newerThan120Reason?.startsWith('group "*"') === true
/** `["a", "b"]` as apimachinery printed it before 1.34 (`%#v`): `[]string{"a", "b"}`. */
const goSliceRendering = (message: string) => message.replace(/\[("[^"]*"(?:,"[^"]*")*)\]/g, (_m, items: string) => `[]string{${items.split(',').join(', ')}}`)

/**
 * What the real v1.20.2 code answered for a case (research/conformance-verification.md §3): the
 * expectation with the three post-1.20 features taken out. Every other case agreed with 1.20.
 */
function expectationAt120(c: ConformanceCase): ConformanceCase {
  if (c.kind === 'evaluate') {
    const groupStar = needsGroupStar(c)
    return {
      ...c,
      expected: {
        level: groupStar ? 'None' : c.expected.level,
        omitStages: groupStar ? (c.policyOmitStages ?? []) : c.expected.omitStages,
        omitManagedFields: false,
      },
    }
  }
  if (c.kind === 'validate') {
    if (needsGroupStar(c)) return { ...c, expectValid: false, errorSubstring: 'rules[0].resources.group: Invalid value: "*": a lowercase RFC 1123 subdomain' }
    return c.expectedMessage ? { ...c, expectedMessage: goSliceRendering(c.expectedMessage) } : c
  }
  return c
}

function runCase(engine: PolicyEngine, c: ConformanceCase, version: KubeVersion): void {
  switch (c.kind) {
    case 'evaluate': {
      const d = engine.evaluate(policyOf(c), attributesOf(c.request), version)
      expect({ level: d.level, omitStages: sorted(d.omitStages), omitManagedFields: d.omitManagedFields }).toEqual({
        level: c.expected.level,
        omitStages: sorted(c.expected.omitStages),
        omitManagedFields: c.expected.omitManagedFields,
      })
      break
    }
    case 'validate': {
      const message = engine.validate(c.policy, version)
      expect(message === null, message ?? 'valid').toBe(c.expectValid)
      if (c.errorSubstring) expect(message).toContain(c.errorSubstring)
      if (c.expectedMessage) expect(message).toBe(c.expectedMessage)
      break
    }
    case 'load': {
      const result = engine.load(c.policyYAML, version)
      expect(result.ok, result.ok ? 'loaded' : result.message).toBe(c.expectValid)
      if (!result.ok && c.errorSubstring) expect(result.message).toContain(c.errorSubstring)
      break
    }
    case 'unionStages':
      expect(sorted(engine.unionStages(c.a, c.b))).toEqual(sorted(c.expected))
      break
  }
}

export function runPolicyConformance(name: string, engine: PolicyEngine): void {
  describe(`policy conformance: ${name}`, () => {
    it('has the expected case table', () => {
      expect(CASES.length).toBe(169)
    })

    for (const c of CASES) {
      const version = (c.kind === 'evaluate' || c.kind === 'validate') && c.minKubernetesVersion ? parseKubernetesVersion(c.minKubernetesVersion) : NEWEST
      it(`${c.kind} ${c.id}`, () => runCase(engine, c, version))
    }

    // The same table at 1.20, where the cases were checked against the real apiserver code.
    for (const c of CASES) it(`at 1.20: ${c.kind} ${c.id}`, () => runCase(engine, expectationAt120(c), V120))
  })
}

const kubetrailEngine: PolicyEngine = {
  evaluate: (policy, request, version) => compilePolicy(policy, { kubernetesVersion: version }).evaluate(request),
  validate: (policy, version) => {
    // decoded as the apiserver's decoder would (type checks), then ValidatePolicy
    const errors = validatePolicy(parsePolicyObject(policy, { kubernetesVersion: version }), version)
    return errors.length === 0 ? null : formatAggregate(errors)
  },
  load: (yaml, version) => {
    try {
      // lenient, as the apiserver: unknown fields are dropped (and reported as warnings)
      loadPolicyText(yaml, 'case.yaml', { kubernetesVersion: version, strict: false })
      return { ok: true }
    } catch (error) {
      if (error instanceof PolicyInvalidError) return { ok: false, message: error.message }
      throw error
    }
  },
  unionStages: (a, b) => unionStages(a, b),
}

runPolicyConformance('kubetrail engine', kubetrailEngine)

describe('version-dependent behaviour of the conformance cases', () => {
  const v = parseKubernetesVersion
  const byId = (id: string) => CASES.find((c) => c.id === id)!

  it('group "*" is a literal group before 1.36: it matches nothing and fails validation', () => {
    const c = byId('derived.groupStarRequires136') as Extract<ConformanceCase, { kind: 'evaluate' }>
    expect(kubetrailEngine.evaluate(policyOf(c), attributesOf(c.request), v('1.36')).level).toBe(c.expected.level)
    expect(kubetrailEngine.evaluate(policyOf(c), attributesOf(c.request), v('1.35')).level).toBe('None')
    const val = byId('validate.derived.groupStar') as Extract<ConformanceCase, { kind: 'validate' }>
    expect(kubetrailEngine.validate(val.policy, v('1.36'))).toBeNull()
    expect(kubetrailEngine.validate(val.policy, v('1.35'))).toContain('rules[0].resources.group: Invalid value: "*": a lowercase RFC 1123 subdomain')
  })

  it('omitManagedFields does not exist before 1.23', () => {
    for (const id of ['checker.omitManagedFields.1', 'checker.omitManagedFields.3', 'derived.noMatchUsesPolicyOmitStages']) {
      const c = byId(id) as Extract<ConformanceCase, { kind: 'evaluate' }>
      expect(c.expected.omitManagedFields).toBe(true)
      expect(kubetrailEngine.evaluate(policyOf(c), attributesOf(c.request), v('1.23')).omitManagedFields).toBe(true)
      expect(kubetrailEngine.evaluate(policyOf(c), attributesOf(c.request), v('1.22')).omitManagedFields).toBe(false)
    }
  })

  it('slice values render as Go literals before 1.34 (what v1.20.2 printed)', () => {
    const c = byId('validate.err.nonResourceURLsAndResources') as Extract<ConformanceCase, { kind: 'validate' }>
    expect(kubetrailEngine.validate(c.policy, v('1.33'))).toBe(
      'rules[0].nonResourceURLs: Invalid value: []string{"/logs*"}: rules cannot apply to both regular resources and non-resource URLs',
    )
  })

  it('v1beta1 policies load before 1.24 only', () => {
    const yaml = 'apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n'
    expect(kubetrailEngine.load(yaml, v('1.23')).ok).toBe(true)
    const newer = kubetrailEngine.load(yaml, v('1.24'))
    expect(newer.ok).toBe(false)
    expect(newer.ok ? '' : newer.message).toContain('unknown group version field audit.k8s.io/v1beta1, Kind=Policy in policy')
  })

  it('every newerThan120 case is pinned to a version or explained', () => {
    const newer = CASES.filter((c) => 'newerThan120' in c && c.newerThan120)
    expect(newer.length).toBe(11)
  })
})
