import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { loadPolicyText, parsePolicyObject, PolicyInvalidError } from './load.js'
import { compilePolicy } from './evaluate.js'

/** Loading untrusted text either gives a policy or a PolicyInvalidError with positions — nothing else. */
let loadedCount = 0

function loadsOrExplains(text: string): void {
  try {
    const loaded = loadPolicyText(text, 'fuzz.yaml')
    loadedCount++
    // whatever loads can be compiled and evaluated
    compilePolicy(loaded.policy).evaluate({ user: 'u', groups: ['g'], verb: 'get', apiGroup: '', resource: 'pods', subresource: '', namespace: 'default', name: 'x', path: '/api/v1/namespaces/default/pods/x', isResourceRequest: true })
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyInvalidError)
    const issues = (error as PolicyInvalidError).issues
    expect(issues.length).toBeGreaterThan(0)
    for (const i of issues) {
      expect(i.file).toBe('fuzz.yaml')
      expect(i.message.length).toBeGreaterThan(0)
    }
  }
}

const level = fc.constantFrom('None', 'Metadata', 'Request', 'RequestResponse', 'Loud', '', 42, null)
const strings = fc.oneof(fc.array(fc.constantFrom('get', 'pods', '/healthz*', 'apps', '*', 'x/*', '', 'kube-system')), fc.constant('not-a-list'), fc.integer())
const rule = fc.dictionary(
  fc.constantFrom('level', 'users', 'userGroups', 'verbs', 'namespaces', 'nonResourceURLs', 'omitStages', 'resources', 'omitManagedFields', 'verb', 'typo'),
  fc.oneof(level, strings, fc.array(fc.record({ group: fc.constantFrom('', 'apps', '*', 'Bad_Group'), resources: strings }, { requiredKeys: [] })), fc.boolean()),
)
const policy = fc.record(
  {
    apiVersion: fc.constantFrom('audit.k8s.io/v1', 'audit.k8s.io/v1beta1', 'v1', 7),
    kind: fc.constantFrom('Policy', 'Pod'),
    omitStages: strings,
    rules: fc.oneof(fc.array(rule, { maxLength: 5 }), fc.constant('none')),
  },
  { requiredKeys: [] },
)

describe('loading untrusted policy text', () => {
  it('random structured policies load or are explained, never crash', () => {
    fc.assert(fc.property(policy, (p) => loadsOrExplains(stringify(p))), { numRuns: 800 })
  })

  it('mostly valid policies: both outcomes occur, and neither crashes', () => {
    const validRule = fc.record({ level: fc.constantFrom('None', 'Metadata', 'Request', 'RequestResponse', 'Loud'), verbs: fc.array(fc.constantFrom('get', 'list', 'create')), resources: fc.array(fc.record({ group: fc.constantFrom('', 'apps', 'Bad_Group'), resources: fc.array(fc.constantFrom('pods', 'deployments', 'pods/*')) })) }, { requiredKeys: ['level'] })
    loadedCount = 0
    let runs = 0
    fc.assert(
      fc.property(fc.array(validRule, { minLength: 1, maxLength: 4 }), (rules) => {
        runs++
        loadsOrExplains(stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', rules }))
      }),
      { numRuns: 400 },
    )
    expect(loadedCount).toBeGreaterThan(0)
    expect(loadedCount).toBeLessThan(runs)
  })

  it('random text and bytes load or are explained, never crash', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (t) => loadsOrExplains(t)), { numRuns: 800 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => loadsOrExplains(Buffer.from(b).toString('latin1'))), { numRuns: 400 })
  })
})

describe('parsePolicyObject (already-decoded policies, e.g. JSON)', () => {
  it('decodes a well-typed object and leaves validation to validatePolicy', () => {
    const policy = parsePolicyObject({ rules: [{ level: 'Loud', resources: [{ group: 'apps', resources: ['deployments'] }], omitManagedFields: null }] })
    expect(policy).toEqual({ rules: [{ level: 'Loud', resources: [{ group: 'apps', resources: ['deployments'] }] }] })
  })

  it('rejects wrong types and (strictly) unknown fields, naming the field', () => {
    const error = (() => {
      try {
        parsePolicyObject({ rules: [{ level: 'None', verbs: 'get', resources: [{ resources: ['pods'], verbs: ['get'] }] }] })
      } catch (e) {
        return e as PolicyInvalidError
      }
      throw new Error('expected an error')
    })()
    expect(error).toBeInstanceOf(PolicyInvalidError)
    expect(error.issues.map((i) => [i.field, i.line])).toEqual([
      ['rules[0].verbs', undefined],
      ['rules[0].resources[0].verbs', undefined],
    ])
    expect(error.issues[1]!.message).toMatch(/silently ignores it, so the rule is broader than written/)
    // the apiserver's lenient decoder: the misplaced key is dropped
    expect(parsePolicyObject({ rules: [{ level: 'None', resources: [{ resources: ['pods'], verbs: ['get'] }] }] }, { strict: false })).toEqual({
      rules: [{ level: 'None', resources: [{ resources: ['pods'] }] }],
    })
  })
})

describe('loadPolicyText', () => {
  const HEAD = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n'

  it('records the line of each rule and keeps the last of duplicated keys (when not strict)', () => {
    const loaded = loadPolicyText(`${HEAD}rules:\n  # first\n  - level: None\n    level: Metadata\n  - level: Request\n    verbs: [create]\n`, 'p.yaml', { strict: false })
    expect(loaded.ruleLines).toEqual([5, 7])
    expect(loaded.rules[0]!.level).toBe('Metadata')
    expect(loaded.warnings.map((w) => `${w.line}:${w.column} ${w.field}`)).toEqual(['6:5 rules[0].level'])
  })

  it('a mis-indented verbs under resources is an error that says the rule widens', () => {
    const text = `${HEAD}rules:\n- level: None\n  resources:\n  - group: coordination.k8s.io\n    resources: ["leases"]\n    verbs: ["watch"]\n`
    expect(() => loadPolicyText(text, 'p.yaml')).toThrow(PolicyInvalidError)
    try {
      loadPolicyText(text, 'p.yaml')
    } catch (e) {
      const [issue] = (e as PolicyInvalidError).issues
      expect(issue).toMatchObject({ line: 8, column: 5, field: 'rules[0].resources[0].verbs' })
      expect(issue!.message).toMatch(/silently ignores it, so the rule is broader than written \(it applies to every verb\)/)
    }
  })

  it('omitManagedFields before 1.23 loads with a warning that it is ignored', () => {
    const loaded = loadPolicyText(`${HEAD}omitManagedFields: true\nrules:\n  - level: Metadata\n`, 'p.yaml', { kubernetesVersion: { major: 1, minor: 22 } })
    expect(loaded.policy.omitManagedFields).toBeUndefined()
    expect(loaded.warnings[0]!.message).toMatch(/ignored by Kubernetes 1\.22/)
  })
})

describe('unknown fields and the apiserver version', () => {
  const text = 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    verb: [get]\n'
  const messageAt = (minor: number) => {
    try {
      loadPolicyText(text, 'p.yaml', { kubernetesVersion: { major: 1, minor } })
    } catch (e) {
      return (e as PolicyInvalidError).issues[0]!.message
    }
    throw new Error('expected an error')
  }
  it('from 1.26 the apiserver logs that it fell back to lenient decoding; before, nothing at all', () => {
    expect(messageAt(26)).toContain('falling back to lenient decoding')
    expect(messageAt(25)).not.toContain('falling back')
    expect(messageAt(25)).toContain('silently ignores it')
  })
})
