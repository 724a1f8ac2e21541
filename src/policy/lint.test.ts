import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { lintPolicy, LINT_RULES, ruleCovers } from './lint.js'
import { loadPolicyText } from './load.js'
import { compilePolicy, compileRuleMatcher } from './evaluate.js'
import { PRESETS } from './presets/index.js'
import { parseKubernetesVersion } from './version.js'
import type { PolicyRule } from '../model/index.js'
import type { RequestAttributes } from './types.js'

const HEAD = 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n'
const lint = (rules: string, head = HEAD, version?: string) =>
  lintPolicy(loadPolicyText(head + rules, 'p.yaml', { kubernetesVersion: parseKubernetesVersion(version) }))
const ids = (rules: string, head?: string, version?: string) => lint(rules, head, version).map((f) => f.id)

/** Each case: a policy that has the problem, and the same policy fixed. */
const CASES: Array<{ id: string; bad: string; fixed: string; head?: string; line?: number; version?: string }> = [
  {
    id: 'shadowed-rule',
    bad: '  - level: Metadata\n  - level: RequestResponse\n    resources: [{group: "", resources: ["secrets"]}]\n',
    fixed: '  - level: RequestResponse\n    resources: [{group: "", resources: ["secrets"]}]\n  - level: Metadata\n',
    line: 6,
  },
  {
    id: 'shadowed-rule',
    bad: '  - level: None\n    verbs: [get, list, watch]\n    resources: [{group: "", resources: ["pods/*"]}]\n  - level: Metadata\n    users: [alice]\n    verbs: [get]\n    resources: [{group: "", resources: ["pods/log", "pods"]}]\n    namespaces: [prod]\n  - level: Metadata\n',
    fixed: '  - level: None\n    verbs: [get, list, watch]\n    resources: [{group: "", resources: ["pods/*"]}]\n  - level: Metadata\n    users: [alice]\n    verbs: [get, create]\n    resources: [{group: "", resources: ["pods/log", "pods"]}]\n    namespaces: [prod]\n  - level: Metadata\n',
    line: 8,
  },
  {
    id: 'shadowed-rule',
    // covered by two entries of the earlier rule together, and "*" covers a whole-group entry
    bad: '  - level: None\n    resources: [{group: "", resources: ["pods"]}, {group: "", resources: ["secrets"]}, {group: apps, resources: ["*"]}]\n  - level: Metadata\n    resources: [{group: "", resources: ["pods", "secrets"]}, {group: apps}]\n  - level: Metadata\n',
    fixed: '  - level: None\n    resources: [{group: "", resources: ["pods"]}, {group: "", resources: ["secrets"]}, {group: apps, resources: ["*"], resourceNames: [x]}]\n  - level: Metadata\n    resources: [{group: "", resources: ["pods", "secrets"]}, {group: apps}]\n  - level: Metadata\n',
    line: 7,
  },
  {
    id: 'group-not-a-group',
    bad: '  - level: Request\n    resources: [{group: v1, resources: ["pods"]}]\n  - level: Metadata\n',
    fixed: '  - level: Request\n    resources: [{group: "", resources: ["pods"]}]\n  - level: Metadata\n',
  },
  {
    id: 'wrong-api-group',
    bad: '  - level: Request\n    resources: [{group: apps, resources: ["pods"]}]\n  - level: Metadata\n',
    // a CRD group may reuse a built-in name (Volcano's jobs), metrics.k8s.io serves pods
    fixed: '  - level: Request\n    resources: [{group: batch.volcano.sh, resources: ["jobs"]}, {group: metrics.k8s.io, resources: ["pods"]}, {group: extensions, resources: ["ingresses"]}]\n  - level: Metadata\n',
  },
  {
    id: 'impossible-resource',
    bad: '  - level: Request\n    resources: [{group: "", resources: ["pods/"]}]\n  - level: Metadata\n',
    // Go's TrimRight/TrimLeft take cutsets: "pods//*" is pods and its subresources, "*//log" every log
    fixed: '  - level: Request\n    resources: [{group: "", resources: ["pods//*", "*//log", "pods/log"]}]\n  - level: Metadata\n',
  },
  {
    id: 'verb-never-matches',
    bad: '  - level: Request\n    verbs: [bind, "*"]\n    resources: [{group: rbac.authorization.k8s.io}]\n  - level: Metadata\n',
    fixed: '  - level: Request\n    resources: [{group: rbac.authorization.k8s.io}]\n  - level: Metadata\n',
  },
  {
    id: 'resource-names-on-create',
    bad: '  - level: Request\n    verbs: [create]\n    resources: [{group: "", resources: ["serviceaccounts"], resourceNames: [builder]}]\n  - level: Metadata\n',
    // a token request is a create on a subresource, and its URL names the service account
    fixed: '  - level: Request\n    verbs: [create]\n    resources: [{group: "", resources: ["serviceaccounts/token"], resourceNames: [builder]}]\n  - level: Metadata\n',
  },
  {
    id: 'sensitive-data-logged',
    // the earlier Metadata rule protects one namespace only
    bad: '  - level: Metadata\n    namespaces: [default]\n    resources: [{group: "", resources: ["secrets"]}]\n  - level: RequestResponse\n',
    fixed: '  - level: Metadata\n    resources: [{group: "", resources: ["secrets", "configmaps", "serviceaccounts/token"]}, {group: authentication.k8s.io, resources: [tokenreviews]}]\n  - level: RequestResponse\n    verbs: [create, update, patch, delete]\n',
  },
  {
    id: 'exec-create-only',
    bad: '  - level: None\n    verbs: [create]\n    resources: [{group: "", resources: ["pods/portforward"]}]\n  - level: Metadata\n',
    // sessions over WebSocket end up at the same level: nothing is lost
    fixed: '  - level: Metadata\n    verbs: [create]\n    resources: [{group: "", resources: ["pods/portforward"]}]\n  - level: Metadata\n',
  },
  {
    id: 'identity-misses-failed-logins',
    bad: '  - level: Metadata\n    userGroups: [system:unauthenticated]\n  - level: None\n',
    fixed: '  - level: Metadata\n    userGroups: [system:unauthenticated]\n  - level: Metadata\n',
  },
  {
    id: 'no-catch-all',
    // every rule needs an identity: failed logins match none of them
    bad: '  - level: Metadata\n    userGroups: [system:authenticated, system:unauthenticated]\n',
    fixed: '  - level: Metadata\n    userGroups: [system:authenticated, system:unauthenticated]\n  - level: Metadata\n    nonResourceURLs: ["*"]\n  - level: Metadata\n    namespaces: [""]\n  - level: Metadata\n    resources: [{group: "*"}]\n',
  },
  {
    id: 'bodies-for-high-volume-reads',
    bad: '  - level: RequestResponse\n    verbs: [list]\n    resources: [{group: "", resources: ["nodes"]}]\n  - level: Metadata\n',
    // a watch has no responseObject
    fixed: '  - level: RequestResponse\n    verbs: [watch]\n    resources: [{group: "", resources: ["nodes"]}]\n  - level: Metadata\n',
  },
  {
    id: 'loader-warning',
    bad: '  - level: Metadata\n    omitManagedFields: true\n',
    fixed: '  - level: Metadata\n',
    version: '1.22',
  },
  {
    id: 'wrong-api-group',
    bad: '  - level: Request\n    resources: [{group: "", resources: ["pods", "deployments"]}]\n  - level: Metadata\n',
    fixed: '  - level: Request\n    resources: [{group: "", resources: ["pods"]}, {group: apps, resources: ["deployments"]}]\n  - level: Metadata\n',
  },
  {
    id: 'impossible-resource',
    bad: '  - level: Request\n    resources: [{group: "", resources: ["*/*"]}]\n  - level: Metadata\n',
    fixed: '  - level: Request\n    resources: [{group: "", resources: ["*"]}]\n  - level: Metadata\n',
  },
  {
    id: 'resource-names-on-create',
    bad: '  - level: Request\n    verbs: [create]\n    resources: [{group: "", resources: ["configmaps"], resourceNames: ["app-config"]}]\n  - level: Metadata\n',
    fixed: '  - level: Request\n    verbs: [update, patch]\n    resources: [{group: "", resources: ["configmaps"], resourceNames: ["app-config"]}]\n  - level: Metadata\n',
  },
  {
    id: 'verb-never-matches',
    bad: '  - level: None\n    verbs: [list]\n    nonResourceURLs: ["/metrics"]\n  - level: Metadata\n',
    fixed: '  - level: None\n    verbs: [get]\n    nonResourceURLs: ["/metrics"]\n  - level: Metadata\n',
  },
  {
    id: 'verb-never-matches',
    bad: '  - level: Request\n    verbs: [post, put]\n    resources: [{group: "", resources: ["pods"]}]\n  - level: Metadata\n',
    fixed: '  - level: Request\n    verbs: [create, update]\n    resources: [{group: "", resources: ["pods"]}]\n  - level: Metadata\n',
  },
  {
    id: 'sensitive-data-logged',
    bad: '  - level: RequestResponse\n    verbs: [get]\n    resources: [{group: "", resources: ["secrets"]}]\n  - level: Metadata\n',
    fixed: '  - level: Request\n    verbs: [get]\n    resources: [{group: "", resources: ["secrets"]}]\n  - level: Metadata\n',
  },
  {
    id: 'sensitive-data-logged',
    bad: '  - level: Request\n    resources: [{group: "authentication.k8s.io", resources: ["tokenreviews"]}]\n  - level: Metadata\n',
    fixed: '  - level: Metadata\n    resources: [{group: "authentication.k8s.io", resources: ["tokenreviews"]}]\n  - level: Request\n    resources: [{group: "", resources: ["pods"]}]\n  - level: Metadata\n',
  },
  {
    id: 'exec-create-only',
    bad: '  - level: Request\n    verbs: [create]\n    resources: [{group: "", resources: ["pods/exec"]}]\n  - level: Metadata\n',
    fixed: '  - level: Request\n    verbs: [create, get]\n    resources: [{group: "", resources: ["pods/exec"]}]\n  - level: Metadata\n',
  },
  {
    id: 'failed-logins-not-audited',
    head: 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n',
    bad: '  - level: Metadata\n    omitStages: [ResponseStarted]\n',
    fixed: '  - level: None\n    verbs: [watch]\n    omitStages: [ResponseStarted]\n  - level: Metadata\n',
  },
  {
    id: 'no-catch-all',
    bad: '  - level: Metadata\n    resources: [{group: "", resources: ["secrets"]}]\n',
    fixed: '  - level: Metadata\n    resources: [{group: "", resources: ["secrets"]}]\n  - level: None\n',
  },
  {
    id: 'request-received-logged',
    head: 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n',
    bad: '  - level: Metadata\n',
    fixed: '  - level: Metadata\n    omitStages: [RequestReceived]\n',
  },
  {
    id: 'bodies-for-high-volume-reads',
    bad: '  - level: RequestResponse\n    resources: [{group: "", resources: ["pods"]}]\n  - level: Metadata\n',
    fixed: '  - level: RequestResponse\n    verbs: [create, update, patch, delete]\n    resources: [{group: "", resources: ["pods"]}]\n  - level: Metadata\n',
  },
]

describe('policy lint findings', () => {
  it('covers every documented finding id', () => {
    expect(new Set(CASES.map((c) => c.id))).toEqual(new Set(Object.keys(LINT_RULES)))
  })

  for (const c of CASES) {
    it(`${c.id} fires on the problem and not on the fix`, () => {
      const found = lint(c.bad, c.head, c.version)
      const hit = found.find((f) => f.id === c.id)
      expect(hit, JSON.stringify(found)).toBeDefined()
      expect(hit!.severity).toBe(LINT_RULES[c.id]!.severity)
      if (c.line) expect(hit!.line).toBe(c.line)
      expect(hit!.message.length).toBeGreaterThan(40)
      expect(ids(c.fixed, c.head, c.version)).not.toContain(c.id)
    })
  }

  it('a suppression comment on the rule silences exactly that id', () => {
    const rules = '  # kubetrail:ignore sensitive-data-logged we redact downstream\n  - level: RequestResponse\n    resources: [{group: "", resources: ["secrets"]}]\n  - level: RequestResponse\n    resources: [{group: "", resources: ["configmaps"]}]\n  - level: Metadata\n'
    const found = lint(rules)
    expect(found.filter((f) => f.id === 'sensitive-data-logged').map((f) => f.rule)).toEqual([1])
  })

  it('group "*" is only a wildcard from 1.36 (shadowing depends on the version)', () => {
    const rules = '  - level: None\n    resources: [{group: "*", resources: ["leases"]}]\n  - level: Metadata\n    resources: [{group: "coordination.k8s.io", resources: ["leases"]}]\n  - level: Metadata\n'
    expect(ids(rules, HEAD, '1.36')).toContain('shadowed-rule')
  })

  it('every preset loads and lints without errors or warnings', () => {
    expect(PRESETS.map((p) => p.name)).toEqual(['comprehensive', 'low-write', 'compliance', 'minimal'])
    for (const p of PRESETS) {
      const findings = lintPolicy(loadPolicyText(p.yaml, `${p.name}.yaml`))
      expect(findings, p.name).toEqual([])
    }
  })
})

/** Random rules and requests: ruleCovers must never claim coverage that the evaluator contradicts. */
describe('ruleCovers is sound', () => {
  const pick = <T>(xs: readonly T[]) => fc.subarray([...xs], { maxLength: Math.min(3, xs.length) })
  const rule: fc.Arbitrary<PolicyRule> = fc.record(
    {
      level: fc.constant('Metadata'),
      users: pick(['alice', 'bob']),
      userGroups: pick(['dev', 'ops']),
      verbs: pick(['get', 'list', 'create', 'delete']),
      namespaces: pick(['', 'prod', 'dev']),
      resources: fc.array(
        fc.record({ group: fc.constantFrom('', 'apps', '*'), resources: pick(['pods', 'pods/log', 'pods/*', '*', '*/log', 'deployments']), resourceNames: pick(['a', 'b']) }, { requiredKeys: ['group'] }),
        { maxLength: 2 },
      ),
      nonResourceURLs: pick(['/healthz', '/healthz*', '/api*', '*']),
    },
    { requiredKeys: ['level'] },
  )
  const request: fc.Arbitrary<RequestAttributes> = fc.record({
    user: fc.constantFrom('alice', 'bob', 'carol', null),
    groups: pick(['dev', 'ops', 'x']),
    verb: fc.constantFrom('get', 'list', 'create', 'delete', 'watch'),
    apiGroup: fc.constantFrom('', 'apps'),
    resource: fc.constantFrom('pods', 'deployments', 'secrets'),
    subresource: fc.constantFrom('', 'log', 'exec'),
    namespace: fc.constantFrom('', 'prod', 'dev'),
    name: fc.constantFrom('', 'a', 'b'),
    path: fc.constantFrom('/healthz', '/healthz/etcd', '/api', '/version'),
    isResourceRequest: fc.boolean(),
  })
  const version = parseKubernetesVersion('1.36')

  it('whenever A covers B, every request B matches is matched by A', () => {
    fc.assert(
      fc.property(rule, rule, fc.array(request, { minLength: 20, maxLength: 20 }), (a, b, reqs) => {
        if (!ruleCovers(a, b, version)) return
        const ma = compileRuleMatcher(a, version)
        const mb = compileRuleMatcher(b, version)
        for (const r of reqs) if (mb(r)) expect(ma(r)).toBe(true)
      }),
      { numRuns: 3000 },
    )
  })

  it('a shadowed rule is never chosen by the evaluator', () => {
    fc.assert(
      fc.property(fc.array(rule, { minLength: 2, maxLength: 4 }), fc.array(request, { minLength: 30, maxLength: 30 }), (rules, reqs) => {
        const text = HEAD + rules.map((r) => `  - ${JSON.stringify(r)}\n`).join('')
        let loaded
        try {
          loaded = loadPolicyText(text, 'p.yaml', { kubernetesVersion: version, strict: false })
        } catch {
          fc.pre(false) // invalid policies (the apiserver would not start) are not linted
          return
        }
        const dead = new Set(lintPolicy(loaded).filter((f) => f.id === 'shadowed-rule').map((f) => f.rule))
        const ev = compilePolicy(loaded.policy, { kubernetesVersion: version })
        for (const r of reqs) expect(dead.has(ev.evaluate(r).ruleIndex ?? -1)).toBe(false)
      }),
      { numRuns: 400 },
    )
  })
})

/** impossible-resource is only reported for patterns the evaluator (checker.go) never matches. */
describe('impossible-resource is sound', () => {
  const version = parseKubernetesVersion('1.37')
  it('a reported pattern matches no request with a real resource and subresource', () => {
    const segment = fc.constantFrom('pods', 'log', '*', '', 'exec')
    const pattern = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'))
    fc.assert(
      fc.property(pattern, (res) => {
        const loaded = loadPolicyText(`${HEAD}  - level: Metadata\n    resources: [{group: "", resources: [${JSON.stringify(res)}]}]\n`, 'p.yaml', { kubernetesVersion: version })
        if (!lintPolicy(loaded).some((f) => f.id === 'impossible-resource')) return
        const matches = compileRuleMatcher(loaded.rules[0]!, version)
        for (const resource of ['pods', 'exec', 'log'])
          for (const subresource of ['', 'log', 'exec'])
            expect(matches({ user: 'u', groups: [], verb: 'get', apiGroup: '', resource, subresource, namespace: 'n', name: 'x', path: '/', isResourceRequest: true }), `${res} ${resource}/${subresource}`).toBe(false)
      }),
      { numRuns: 500 },
    )
  })
})
