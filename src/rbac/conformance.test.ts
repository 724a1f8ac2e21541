/**
 * The RBAC authorizer against the shared case table (test/fixtures/rbac-conformance-cases.json):
 * each case restates a behaviour of Kubernetes' RBAC code (rule matching, bindings and scopes,
 * subjects, aggregation, the bootstrap roles) as objects, a user, a request and the decision.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT, requireFixture } from '../../test/support/fixtures.js'
import { authorize, Grants, rbacObjectFrom, type AccessAttributes } from './index.js'

interface Case {
  name: string
  source: string
  objects: unknown[]
  user: { name: string; groups: string[] }
  request: { verb: string; apiGroup?: string; resource?: string; subresource?: string; namespace?: string; name?: string; path?: string; resourceRequest: boolean }
  allowed: boolean
  reason?: string
  bootstrap?: boolean
}

const TABLE = JSON.parse(readFileSync(requireFixture(resolve(REPO_ROOT, 'test/fixtures/rbac-conformance-cases.json')), 'utf8')) as { cases: Case[] }

function attributes(r: Case['request']): AccessAttributes {
  return { verb: r.verb, isResourceRequest: r.resourceRequest, apiGroup: r.apiGroup ?? '', resource: r.resource ?? '', subresource: r.subresource ?? '', namespace: r.namespace ?? '', name: r.name ?? '', path: r.path ?? '' }
}

describe('RBAC conformance cases', () => {
  it('the table covers every area the issue names', () => {
    const names = TABLE.cases.map((c) => c.name).join('\n')
    for (const area of ['verb "*"', 'resourceNames', 'non-resource', 'aggregat', 'RoleBinding', 'ClusterRoleBinding', 'Group subject', 'ServiceAccount', 'bootstrap'])
      expect(names, area).toContain(area)
    expect(TABLE.cases.length).toBeGreaterThanOrEqual(60)
  })

  it.each(TABLE.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const grants = Grants.from(
      c.objects.map((o) => rbacObjectFrom(o)!),
      { bootstrap: c.bootstrap ?? false },
    )
    const decision = authorize(grants, c.user, attributes(c.request))
    expect(decision.allowed).toBe(c.allowed)
    if (c.reason !== undefined) expect(decision.reason).toBe(c.reason)
  })
})
