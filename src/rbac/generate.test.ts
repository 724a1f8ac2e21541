/**
 * `rbac generate` on the real kube-apiserver's log (test/fixtures/real-apiserver/runs/full): for
 * every identity in it (the service account ci:deployer first), the generated Roles allow every
 * request the apiserver authorized for it, checked by evaluating each request (its attributes
 * read from the URL as the apiserver does) against the generated objects, and hold no rule that no
 * request needed. Also: the access summary's attributes equal the apiserver's RequestInfo.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import type { AuditEvent } from '../model/index.js'
import { attributesFromEvent } from '../policy/index.js'
import { AccessSummary } from '../store/access.js'
import {
  accessesOfRow,
  attributesOfRow,
  authorize,
  generateRbac,
  grantsToEveryone,
  Grants,
  outcomeOf,
  rbacObjectFrom,
  ruleAllows,
  type AccessAttributes,
  type Identity,
  type PolicyRule,
} from './index.js'

const EVENTS = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent)
const COMPLETE = EVENTS.filter((e) => e.stage === 'ResponseComplete')
const summary = new AccessSummary()
for (const event of EVENTS) summary.add({ cluster: 'c', event, raw: '' })
const ACCESSES = summary.result().flatMap(accessesOfRow)

/** What the authorizer saw, read from the URL (RequestInfo), not from objectRef. */
function requestInfoAttributes(e: AuditEvent): AccessAttributes {
  const a = attributesFromEvent(e)
  // the authorizer reads the path of non-resource requests only
  return { verb: a.verb, isResourceRequest: a.isResourceRequest, apiGroup: a.apiGroup, resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name, path: a.isResourceRequest ? '' : a.path }
}

/** The impersonate checks behind an impersonated request (impersonation.go), for its real user. */
function impersonationAttributes(e: AuditEvent): AccessAttributes[] {
  const as = e.impersonatedUser
  if (!as?.username) return []
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(as.username)
  const attrs = (resource: string, namespace: string, name: string): AccessAttributes => ({ verb: 'impersonate', isResourceRequest: true, apiGroup: '', resource, subresource: '', namespace, name, path: '' })
  const out = [sa ? attrs('serviceaccounts', sa[1]!, sa[2]!) : attrs('users', '', as.username)]
  // kubectl --as-group: the groups asked for, before the apiserver appends system:authenticated
  if (!sa) for (const g of (as.groups ?? []).filter((x) => x !== 'system:authenticated')) out.push(attrs('groups', '', g))
  return out
}

const decision = (e: AuditEvent) => outcomeOf(e.annotations?.['authorization.k8s.io/decision'] ?? '', e.responseStatus?.code ?? 0)
const actor = (e: AuditEvent) => e.impersonatedUser ?? e.user
const identities: Array<[string, Identity]> = [
  ['the service account ci:deployer', { kind: 'ServiceAccount', namespace: 'ci', name: 'deployer' }],
  ['alice@example.com', { kind: 'User', name: 'alice@example.com' }],
  ['bob@example.com', { kind: 'User', name: 'bob@example.com' }],
  ['mallory', { kind: 'User', name: 'mallory' }],
  ['admin (system:masters)', { kind: 'User', name: 'admin' }],
  ['system:anonymous', { kind: 'User', name: 'system:anonymous' }],
  ['the group developers', { kind: 'Group', name: 'developers' }],
]
const isBy = (e: AuditEvent, id: Identity) =>
  id.kind === 'Group' ? (actor(e).groups ?? []).includes(id.name) : actor(e).username === (id.kind === 'User' ? id.name : `system:serviceaccount:${id.namespace}:${id.name}`)

/** Each single (group, resource, verb, name) a rule allows. */
function cellsOf(rule: PolicyRule): PolicyRule[] {
  if (rule.nonResourceURLs.length) return rule.nonResourceURLs.flatMap((u) => rule.verbs.map((v) => ({ verbs: [v], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [u] })))
  const names = rule.resourceNames.length ? rule.resourceNames.map((n) => [n]) : [[]]
  return rule.apiGroups.flatMap((g) => rule.resources.flatMap((r) => rule.verbs.flatMap((v) => names.map((n) => ({ verbs: [v], apiGroups: [g], resources: [r], resourceNames: n, nonResourceURLs: [] })))))
}

describe('the access summary reads requests as the authorizer did', () => {
  it("its attributes equal the apiserver's RequestInfo for every request of the real log", () => {
    expect(COMPLETE.length).toBeGreaterThan(900)
    for (const e of COMPLETE) {
      const r = e.objectRef
      const row = { verb: e.verb, apiGroup: r?.apiGroup ?? '', resource: r?.resource ?? '', subresource: r?.subresource ?? '', namespace: r?.namespace ?? '', name: r?.name ?? '', path: r?.resource ? '' : e.requestURI.split('?')[0]! }
      expect(attributesOfRow(row), e.requestURI).toEqual(requestInfoAttributes(e))
    }
  })

  it('reads the decision from the annotation, and the impersonator from the impersonated request', () => {
    const byDecision = COMPLETE.filter((e) => e.annotations?.['authorization.k8s.io/decision'])
    for (const e of byDecision) expect(decision(e)).toBe(e.annotations!['authorization.k8s.io/decision'] === 'allow' ? 'allowed' : 'denied')
    const impersonate = ACCESSES.filter((a) => a.attributes.verb === 'impersonate')
    expect([...new Set(impersonate.map((a) => JSON.stringify([a.user.name, a.attributes.resource, a.attributes.namespace, a.attributes.name])))].sort().map((x) => JSON.parse(x) as string[])).toEqual([
      ['admin', 'groups', '', 'developers'],
      ['admin', 'serviceaccounts', 'ci', 'deployer'],
      ['admin', 'users', '', 'alice@example.com'],
    ])
    // mallory's impersonation of admin was refused before authorization: a denial without a decision
    const mallory = COMPLETE.filter((e) => e.user.username === 'mallory' && e.responseStatus?.code === 403 && !e.annotations?.['authorization.k8s.io/decision'])
    expect(mallory.length).toBe(2)
    for (const e of mallory) expect(decision(e)).toBe('denied')
  })
})

describe.each(identities)('rbac generate for %s on the real log', (_label, id) => {
  const result = generateRbac(ACCESSES, id)
  const generated = Grants.from(result.objects.map((o) => rbacObjectFrom(o)!), { bootstrap: false })
  const requests = COMPLETE.filter((e) => isBy(e, id))
  const authorized = requests.filter((e) => decision(e) === 'allowed')

  it('the identity made requests, and its summary counts them', () => {
    expect(requests.length).toBeGreaterThan(0)
    expect(result.requests.allowed).toBe(authorized.length)
    expect(result.requests.denied).toBe(requests.filter((e) => decision(e) === 'denied').length)
  })

  it('every authorized request is allowed by the generated objects (or to every user anyway)', () => {
    for (const e of authorized) {
      const user = { name: actor(e).username!, groups: actor(e).groups ?? [] }
      const attrs = requestInfoAttributes(e)
      const ok = authorize(generated, user, attrs, { superuser: false }).allowed || authorize(grantsToEveryone(), user, attrs, { superuser: false }).allowed
      expect(ok, `${e.verb} ${e.requestURI}`).toBe(true)
    }
  })

  it('no rule grants anything no request needed: every verb × resource × name of every rule was used in its scope', () => {
    const needed = authorized
      .filter((e) => !authorize(grantsToEveryone(), { name: actor(e).username!, groups: actor(e).groups ?? [] }, requestInfoAttributes(e), { superuser: false }).allowed)
      .map(requestInfoAttributes)
    if (id.kind === 'User') needed.push(...COMPLETE.filter((e) => e.user.username === id.name).flatMap(impersonationAttributes))
    for (const role of result.roles)
      for (const { rule } of role.rules)
        for (const cell of cellsOf(rule)) {
          const used = needed.some((a) => {
            const inScope = role.kind === 'Role' ? a.namespace === role.namespace : !a.isResourceRequest || a.namespace === ''
            return inScope && ruleAllows(cell, a)
          })
          expect(used, `${role.kind} ${role.namespace ?? ''} ${JSON.stringify(cell)}`).toBe(true)
        }
  })

  it('refused requests are listed, and granted only where the same request was later authorized', () => {
    const later = new Set(authorized.map((e) => JSON.stringify(requestInfoAttributes(e))))
    for (const e of requests.filter((x) => decision(x) === 'denied')) {
      const attrs = requestInfoAttributes(e)
      const user = { name: actor(e).username!, groups: actor(e).groups ?? [] }
      const allowed = authorize(generated, user, attrs, { superuser: false }).allowed || authorize(grantsToEveryone(), user, attrs, { superuser: false }).allowed
      expect(allowed, `${e.verb} ${e.requestURI}`).toBe(later.has(JSON.stringify(attrs)))
    }
    expect(result.denied.reduce((n, d) => n + d.requests, 0)).toBe(result.requests.denied)
  })
})

describe('rbac generate: what the fixture story asks for', () => {
  it('ci:deployer gets one Role in production, and its kube-system secrets probe is asked for but not granted', () => {
    const r = generateRbac(ACCESSES, { kind: 'ServiceAccount', namespace: 'ci', name: 'deployer' })
    expect(r.roles.map((x) => [x.kind, x.namespace])).toEqual([['Role', 'production']])
    expect(r.objects.map((o) => o['kind'])).toEqual(['Role', 'RoleBinding'])
    expect(r.objects[1]).toMatchObject({ subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' }], roleRef: { kind: 'Role', name: 'kubetrail:ci:deployer' } })
    const rules = r.roles[0]!.rules.map((e) => e.rule)
    expect(rules).toContainEqual({ verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['db-password'], nonResourceURLs: [] })
    expect(rules).toContainEqual({ verbs: ['patch'], apiGroups: ['apps'], resources: ['deployments/scale'], resourceNames: ['novelapp'], nonResourceURLs: [] })
    // a create has no name to the authorizer: never resourceNames
    expect(rules).toContainEqual({ verbs: ['create', 'list'], apiGroups: ['apps'], resources: ['deployments'], resourceNames: [], nonResourceURLs: [] })
    expect(r.denied).toEqual([expect.objectContaining({ verb: 'list', resource: 'secrets', namespace: 'kube-system', code: 403, requests: 1 })])
  })

  it('--max-names 0 and --expand names drop resourceNames; --expand verbs adds the companions and says so', () => {
    const id: Identity = { kind: 'ServiceAccount', namespace: 'ci', name: 'deployer' }
    for (const r of [generateRbac(ACCESSES, id, { maxNames: 0 }), generateRbac(ACCESSES, id, { expand: ['names'] })]) for (const e of r.roles.flatMap((x) => x.rules)) expect(e.rule.resourceNames).toEqual([])
    const v = generateRbac(ACCESSES, id, { expand: ['verbs'] })
    const deployments = v.roles[0]!.rules.find((e) => e.rule.resources.includes('deployments') && e.rule.resourceNames.length === 0)!
    expect(deployments.rule.verbs).toEqual(['create', 'get', 'list', 'watch'])
    expect(deployments.expandedVerbs).toEqual(['get', 'watch'])
  })

  it('--expand namespaces makes the same access in two namespaces cluster-wide', () => {
    const id: Identity = { kind: 'User', name: 'alice@example.com' }
    const plain = generateRbac(ACCESSES, id)
    const wide = generateRbac(ACCESSES, id, { expand: ['namespaces'] })
    const namespaces = (r: typeof plain) => r.roles.filter((x) => x.kind === 'Role').map((x) => x.namespace)
    expect(namespaces(plain).length).toBeGreaterThan(namespaces(wide).length === 0 ? 0 : namespaces(wide).length - 1)
    const clusterRole = (r: typeof plain) => r.roles.find((x) => x.kind === 'ClusterRole')?.rules.flatMap((e) => e.rule.resources) ?? []
    expect(clusterRole(wide).length).toBeGreaterThan(clusterRole(plain).length)
  })

  it('the cluster-wide and non-resource accesses of a user go to a ClusterRole', () => {
    const r = generateRbac(ACCESSES, { kind: 'User', name: 'admin' })
    const cluster = r.roles.find((x) => x.kind === 'ClusterRole')!
    expect(cluster.rules.some((e) => e.rule.nonResourceURLs.includes('/metrics'))).toBe(true)
    expect(cluster.rules.some((e) => e.rule.resources.includes('namespaces') && e.rule.verbs.includes('create'))).toBe(true)
    expect(r.objects.map((o) => o['kind'])).toContain('ClusterRoleBinding')
  })
})
