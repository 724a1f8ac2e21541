import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { loadPolicyText, PolicyInvalidError } from './load.js'
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
