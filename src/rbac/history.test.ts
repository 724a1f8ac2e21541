/**
 * The grants rebuilt from the trail, checked against the real authorizer: in the real
 * kube-apiserver's log every RBAC object (its bootstrap policy included) was created with its body,
 * so the state at each request's time is known, and every recorded decision
 * (`authorization.k8s.io/decision`, and the binding named in `…/reason`) must be what kubetrail's
 * authorizer decides on that state. Also: patches applied without response bodies, deletes,
 * deletecollection, and changes logged without bodies.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import type { AuditEvent } from '../model/index.js'
import { attributesFromEvent } from '../policy/index.js'
import { allowedReason, authorize, Grants, RbacHistory, ruleAllows, visitRulesFor, type AccessAttributes, type UserInfo } from './index.js'

const EVENTS = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent)

function historyOf(events: AuditEvent[]): RbacHistory {
  const h = new RbacHistory()
  for (const e of [...events].sort((a, b) => a.stageTimestamp.localeCompare(b.stageTimestamp))) h.add(e)
  return h
}

function attrs(e: AuditEvent): AccessAttributes {
  const a = attributesFromEvent(e)
  return { verb: a.verb, isResourceRequest: a.isResourceRequest, apiGroup: a.apiGroup, resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name, path: a.path }
}

function allReasons(grants: Grants, user: UserInfo, a: AccessAttributes): string[] {
  const out: string[] = []
  visitRulesFor(grants, user, a.namespace, (binding, subject, rule) => {
    if (ruleAllows(rule, a)) out.push(allowedReason(binding, subject))
    return true
  })
  return out
}

describe('grants rebuilt from the real trail decide as the real apiserver did', () => {
  const history = historyOf(EVENTS)
  const decided = EVENTS.filter((e) => e.stage === 'ResponseComplete' && e.annotations?.['authorization.k8s.io/decision'])

  it('rebuilds every object the log created, the bootstrap policy included', () => {
    const { objects, unknown } = history.stateAt()
    expect(unknown).toEqual([])
    const names = objects.map((o) => `${o.kind} ${'namespace' in o ? `${o.namespace}/` : ''}${o.name}`)
    for (const n of ['ClusterRole cluster-admin', 'ClusterRole app-editor', 'Role production/secret-reader', 'RoleBinding production/alice-edit', 'ClusterRoleBinding ci-deployer'])
      expect(names).toContain(n)
    // cleanup deleted bob's cluster-admin binding
    expect(names).not.toContain('ClusterRoleBinding bob-cluster-admin')
    // the JSON patch that added "watch" to secret-reader is in its rules
    const reader = objects.find((o) => o.kind === 'Role' && o.name === 'secret-reader')!
    expect('rules' in reader && reader.rules.flatMap((r) => r.verbs)).toContain('watch')
  })

  it(`every recorded decision (${decided.length}) is the authorizer's on the grants of that moment`, () => {
    expect(decided.length).toBeGreaterThan(900)
    const states = new Map<number, Grants>()
    let checkedReasons = 0
    for (const e of decided) {
      // the authorizer's cache saw the changes completed before the request arrived
      const before = history.changes.filter((c) => c.at < e.requestReceivedTimestamp).length
      if (!states.has(before)) states.set(before, Grants.from(history.stateAfter(before).objects, { bootstrap: false }))
      const grants = states.get(before)!
      const who = e.impersonatedUser ?? e.user
      const user = { name: who.username ?? '', groups: who.groups ?? [] }
      const a = attrs(e)
      const expected = e.annotations!['authorization.k8s.io/decision'] === 'allow'
      expect(authorize(grants, user, a).allowed, `${user.name} ${e.verb} ${e.requestURI} at ${e.requestReceivedTimestamp}`).toBe(expected)
      const reason = e.annotations!['authorization.k8s.io/reason'] ?? ''
      if (expected && reason.startsWith('RBAC: allowed by ')) {
        expect(allReasons(grants, user, a)).toContain(reason)
        checkedReasons++
      }
    }
    expect(checkedReasons).toBeGreaterThan(300)
  })
})

const base = EVENTS.find((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'roles' && e.objectRef.name === 'secret-reader')!
const at = (s: number) => `2030-01-01T00:00:${String(s).padStart(2, '0')}.000000Z`
function change(verb: string, s: number, patch: Partial<AuditEvent>): AuditEvent {
  return { ...base, auditID: `c-${s}`, verb, requestReceivedTimestamp: at(s), stageTimestamp: at(s), responseObject: undefined, requestObject: undefined, ...patch } as AuditEvent
}
const roleBody = (verbs: string[]) => ({ kind: 'Role', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'r', namespace: 'ns1' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs }] })
const ref = { resource: 'roles', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1', namespace: 'ns1', name: 'r' }

describe('rebuilding objects from what each change logged', () => {
  const rulesAt = (h: RbacHistory, s: number) => {
    const r = h.stateAt(new Date(Date.parse(at(s)) + 1)).objects.find((o) => o.name === 'r')
    return r && 'rules' in r ? r.rules.flatMap((x) => x.verbs) : undefined
  }

  it('a create at Request level: the request body; then a JSON patch and a merge patch without response bodies', () => {
    const h = historyOf([
      change('create', 1, { level: 'Request', objectRef: { ...ref }, requestObject: roleBody(['get']), responseStatus: { code: 201 } }),
      change('patch', 2, { level: 'Request', objectRef: ref, requestObject: [{ op: 'add', path: '/rules/0/verbs/-', value: 'list' }], responseStatus: { code: 200 } }),
      change('patch', 3, { level: 'Request', objectRef: ref, requestObject: { rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['watch'] }] }, responseStatus: { code: 200 } }),
    ])
    expect(rulesAt(h, 1)).toEqual(['get'])
    expect(rulesAt(h, 2)).toEqual(['get', 'list'])
    expect(rulesAt(h, 3)).toEqual(['watch'])
  })

  it('the response body wins over the request; failed changes change nothing; delete removes', () => {
    const h = historyOf([
      change('create', 1, { objectRef: ref, requestObject: roleBody(['get']), responseObject: roleBody(['get', 'list']), responseStatus: { code: 201 } }),
      change('update', 2, { objectRef: ref, requestObject: roleBody(['*']), responseStatus: { code: 403 } }),
      change('delete', 3, { objectRef: ref, responseStatus: { code: 200 } }),
    ])
    expect(rulesAt(h, 1)).toEqual(['get', 'list'])
    expect(rulesAt(h, 2)).toEqual(['get', 'list'])
    expect(rulesAt(h, 3)).toBeUndefined()
  })

  it('a change logged at Metadata leaves the object unknown, and says so', () => {
    const h = historyOf([
      change('create', 1, { objectRef: ref, requestObject: roleBody(['get']), responseStatus: { code: 201 } }),
      change('update', 2, { level: 'Metadata', objectRef: ref, responseStatus: { code: 200 } }),
    ])
    const state = h.stateAt()
    expect(state.objects.find((o) => o.name === 'r')).toBeUndefined()
    expect(state.unknown).toEqual([expect.objectContaining({ key: 'Role ns1/r', unknown: 'logged at Metadata (no body)' })])
  })

  it('deletecollection removes the namespace\'s objects of that kind', () => {
    const h = historyOf([
      change('create', 1, { objectRef: ref, requestObject: roleBody(['get']), responseStatus: { code: 201 } }),
      change('deletecollection', 2, { objectRef: { resource: 'roles', apiGroup: 'rbac.authorization.k8s.io', namespace: 'ns1' }, responseStatus: { code: 200 } }),
    ])
    expect(h.stateAt().objects.find((o) => o.name === 'r')).toBeUndefined()
  })

  it('a body that is not a valid RBAC object is reported with its field, not applied', () => {
    const h = historyOf([change('create', 1, { objectRef: ref, requestObject: { ...roleBody(['get']), rules: [{ verbs: 'get' }] }, responseStatus: { code: 201 } })])
    expect(h.stateAt().unknown).toEqual([expect.objectContaining({ unknown: expect.stringContaining('rules[0].verbs: must be a list of strings') })])
  })
})
