/**
 * `rbac unused` and `rbac who-can` over hand-made grants (each rule of the answer checked), and
 * over the real kube-apiserver's log with the grants rebuilt from its own RBAC history: every
 * permission called unused really was used by no authorized request of that subject in scope,
 * and every one called used was; who-can's "did" is what the apiserver's decision says.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import type { AuditEvent } from '../model/index.js'
import { AccessSummary } from '../store/access.js'
import {
  accessesOfRow,
  authorize,
  Grants,
  lastSeenBefore,
  permissionRisk,
  RbacHistory,
  ruleAllows,
  ruleRisk,
  unusedAccess,
  whoCan,
  type Access,
  type AccessAttributes,
  type RbacObject,
} from './index.js'

const res = (verb: string, resource: string, namespace = '', name = '', apiGroup = '', subresource = ''): AccessAttributes => ({ verb, isResourceRequest: true, apiGroup, resource, subresource, namespace, name, path: '' })
const access = (user: string, groups: string[], attributes: AccessAttributes, lastAt = '2026-11-01T00:00:00Z', outcome: Access['outcome'] = 'allowed'): Access => ({
  cluster: 'c',
  user: { name: user, groups },
  attributes,
  outcome,
  code: outcome === 'allowed' ? 200 : 403,
  reason: '',
  requests: 1,
  firstAt: lastAt,
  lastAt,
})
const rule = (verbs: string[], resources: string[], apiGroups = [''], resourceNames: string[] = []) => ({ verbs, apiGroups, resources, resourceNames, nonResourceURLs: [] })

const OBJECTS: RbacObject[] = [
  { kind: 'Role', name: 'reader', namespace: 'prod', labels: {}, rules: [rule(['get', 'list'], ['secrets']), rule(['create'], ['pods/exec'])] },
  { kind: 'RoleBinding', name: 'sa-reader', namespace: 'prod', roleRef: { kind: 'Role', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: '' }] },
  { kind: 'ClusterRole', name: 'viewer', labels: {}, rules: [rule(['get'], ['configmaps']), { verbs: ['get'], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: ['/metrics'] }] },
  { kind: 'ClusterRoleBinding', name: 'devs-view', roleRef: { kind: 'ClusterRole', name: 'viewer' }, subjects: [{ kind: 'Group', name: 'devs', namespace: '' }, { kind: 'User', name: 'carol', namespace: '' }] },
  { kind: 'ClusterRoleBinding', name: 'ghost', roleRef: { kind: 'ClusterRole', name: 'missing' }, subjects: [{ kind: 'User', name: 'nobody', namespace: '' }] },
]
const SA = 'system:serviceaccount:prod:app'
const ACCESSES = [
  access(SA, ['system:serviceaccounts'], res('get', 'secrets', 'prod', 'db'), '2026-11-02T00:00:00Z'),
  // in another namespace: not a use of the RoleBinding in prod
  access(SA, ['system:serviceaccounts'], res('list', 'secrets', 'staging')),
  // refused: not a use
  access(SA, ['system:serviceaccounts'], res('create', 'pods', 'prod', '', '', 'exec'), '2026-11-03T00:00:00Z', 'denied'),
  access('dave', ['devs', 'system:authenticated'], res('get', 'configmaps', 'kube-system', 'x'), '2026-11-04T00:00:00Z'),
]

describe('rbac unused, on hand-made grants', () => {
  const grants = Grants.from(OBJECTS, { bootstrap: false })
  const result = unusedAccess(grants, ACCESSES)
  const of = (label: string) => result.subjects.find((s) => s.label === label)!

  it('a RoleBinding counts uses in its namespace only, authorized ones only; the riskiest unused first, with its binding', () => {
    const sa = of('ServiceAccount prod/app')
    expect(sa).toMatchObject({ granted: 3, used: 1, requests: 2, lastSeen: '2026-11-02T00:00:00Z', dormant: false, bindings: ['RoleBinding prod/sa-reader'] })
    expect(sa.unused.map((u) => `${u.risk} ${u.verb} ${u.resource} ${u.namespace} ${u.binding}`)).toEqual(['85 list secrets prod RoleBinding prod/sa-reader', '80 create pods/exec prod RoleBinding prod/sa-reader'])
    expect(sa.unused[0]!.riskReasons).toEqual(['secrets read'])
  })

  it("a group's permissions are used by any member; a bound user with no request is dormant; a binding to a missing role grants nothing", () => {
    expect(of('Group devs')).toMatchObject({ granted: 2, used: 1, requests: 1, dormant: false })
    expect(of('Group devs').unused.map((u) => u.url)).toEqual(['/metrics'])
    expect(of('User carol')).toMatchObject({ granted: 2, used: 0, requests: 0, dormant: true })
    expect(result.dormant.map((s) => s.label)).toEqual(['User carol'])
    expect(result.subjects.map((s) => s.label)).not.toContain('User nobody')
    // ghost's role does not exist: the apiserver skips it, and so does the count
    expect(result.bindingsJudged).toBe(2)
  })

  it('the built-in bindings are judged only when asked for', () => {
    const withBuiltin = unusedAccess(Grants.from(OBJECTS), ACCESSES, { includeBuiltin: true })
    expect(withBuiltin.subjects.map((s) => s.label)).toContain('Group system:masters')
    expect(unusedAccess(Grants.from(OBJECTS), ACCESSES).subjects.map((s) => s.label)).not.toContain('Group system:masters')
  })

  it('when a dormant subject was last seen before the window', () => {
    const before = [access('carol', ['system:authenticated'], res('get', 'configmaps', 'a', 'b'), '2026-09-01T00:00:00Z'), access('carol', [], res('get', 'configmaps', 'a', 'b'), '2026-08-01T00:00:00Z')]
    expect(lastSeenBefore(result.dormant, before)).toEqual(new Map([['User carol', '2026-09-01T00:00:00Z']]))
  })
})

describe('risk ranking', () => {
  it('ranks what the issue names above ordinary access, and a wildcard by the worst it matches', () => {
    const score = (v: string, g: string, r: string) => permissionRisk(v, g, r).score
    expect(score('impersonate', '', 'users')).toBeGreaterThan(score('get', '', 'secrets'))
    expect(score('escalate', 'rbac.authorization.k8s.io', 'clusterroles')).toBeGreaterThanOrEqual(90)
    expect(score('get', '', 'nodes/proxy')).toBeGreaterThan(score('create', 'apps', 'deployments'))
    expect(score('create', '', 'pods/exec')).toBeGreaterThan(score('get', '', 'configmaps'))
    expect(score('*', '*', '*')).toBe(100)
    expect(permissionRisk('*', '*', '*').reasons[0]).toBe('wildcard: everything')
    expect(score('get', '', '*')).toBeGreaterThanOrEqual(score('get', '', 'secrets'))
    expect(ruleRisk(rule(['get', 'list'], ['configmaps', 'secrets'])).reasons).toEqual(['secrets read'])
  })
})

describe('rbac who-can, on hand-made grants', () => {
  const grants = Grants.from(OBJECTS, { bootstrap: false })

  it('lists who could, via which binding, and marks who did; the superuser group always could', () => {
    const r = whoCan(grants, res('get', 'secrets', 'prod', 'db'), ACCESSES)
    expect(r.allowed.map((e) => `${e.label} ${e.requests} ${e.via.join(',')}`)).toEqual(['ServiceAccount prod/app 1 RoleBinding prod/sa-reader', 'Group system:masters 0 (superuser group)'])
    // every subject listed is allowed by the authorizer
    for (const e of r.allowed.filter((x) => x.subject.kind !== 'Group'))
      expect(authorize(grants, { name: e.subject.kind === 'ServiceAccount' ? `system:serviceaccount:${e.subject.namespace}:${e.subject.name}` : e.subject.name, groups: [] }, res('get', 'secrets', 'prod', 'db')).allowed).toBe(true)
  })

  it('a group member did it for the group; someone allowed with no current grant is listed apart', () => {
    const extra = [...ACCESSES, { ...access('erin', [], res('get', 'configmaps', 'kube-system', 'y'), '2026-11-05T00:00:00Z'), reason: 'RBAC: allowed by ClusterRoleBinding "old"' }]
    const r = whoCan(grants, res('get', 'configmaps', 'kube-system'), extra)
    expect(r.allowed.find((e) => e.label === 'Group devs')).toMatchObject({ requests: 1, users: ['dave'] })
    expect(r.allowed.find((e) => e.label === 'User carol')).toMatchObject({ requests: 0, lastUsed: '' })
    expect(r.didWithoutGrant).toEqual([{ user: 'erin', requests: 1, lastUsed: '2026-11-05T00:00:00Z', reason: 'RBAC: allowed by ClusterRoleBinding "old"' }])
  })
})

describe('on the real log, with the grants rebuilt from its RBAC history', () => {
  const events = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent)
  const history = new RbacHistory()
  for (const e of [...events].sort((a, b) => a.stageTimestamp.localeCompare(b.stageTimestamp))) history.add(e)
  const grants = Grants.from(history.stateAt().objects)
  const summary = new AccessSummary()
  for (const event of events) summary.add({ cluster: 'c', event, raw: '' })
  const accesses = summary.result().flatMap(accessesOfRow)

  it('every permission called unused was used by no authorized request in scope, and every used one was', () => {
    const result = unusedAccess(grants, accesses)
    expect(result.subjects.map((s) => s.label).sort()).toEqual(['Group developers', 'ServiceAccount ci/deployer', 'User alice@example.com'])
    for (const s of result.subjects) {
      const user = s.subject.kind === 'ServiceAccount' ? `system:serviceaccount:${s.subject.namespace}:${s.subject.name}` : s.subject.name
      const mine = accesses.filter((a) => a.outcome === 'allowed' && (s.subject.kind === 'Group' ? a.user.groups.includes(user) : a.user.name === user))
      for (const u of s.unused) {
        const single = u.url ? { verbs: [u.verb], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [u.url] } : rule([u.verb], [u.resource], [u.apiGroup], u.resourceNames)
        const users = mine.filter((a) => (u.namespace === '' || (a.attributes.isResourceRequest && a.attributes.namespace === u.namespace)) && ruleAllows(single, a.attributes))
        expect(users, `${s.label}: ${u.verb} ${u.resource}${u.url} in ${u.namespace}`).toEqual([])
      }
      expect(s.used + s.unused.length).toBe(s.granted)
      expect(s.used).toBeGreaterThan(0)
    }
    // the deployer's secret-reader Role: it read db-password (get), never listed or watched
    const deployer = result.subjects.find((s) => s.label === 'ServiceAccount ci/deployer')!
    expect(deployer.unused.filter((u) => u.resource === 'secrets').map((u) => u.verb).sort()).toEqual(['list', 'watch'])
  })

  it('who could delete novelapp: alice and the deployer could and did not; bob did, by a binding deleted since', () => {
    const r = whoCan(grants, res('delete', 'deployments', 'production', 'novelapp', 'apps'), accesses)
    const labels = r.allowed.map((e) => e.label)
    expect(labels).toEqual(expect.arrayContaining(['User alice@example.com', 'ServiceAccount ci/deployer', 'Group system:masters']))
    expect(r.allowed.every((e) => e.requests === 0)).toBe(true)
    expect(r.didWithoutGrant).toMatchObject([{ user: 'bob@example.com', requests: 1, reason: expect.stringContaining('bob-cluster-admin') }])
    // at the moment bob deleted it, his binding was there
    const at = events.find((e) => e.verb === 'delete' && e.objectRef?.name === 'novelapp' && e.stage === 'ResponseComplete' && e.responseStatus?.code === 200)!
    const then = whoCan(Grants.from(history.stateAt(new Date(at.requestReceivedTimestamp)).objects), res('delete', 'deployments', 'production', 'novelapp', 'apps'), accesses)
    expect(then.allowed.find((e) => e.label === 'User bob@example.com')).toMatchObject({ requests: 1, via: ['ClusterRoleBinding bob-cluster-admin'] })
    expect(then.didWithoutGrant).toEqual([])
  })
})
