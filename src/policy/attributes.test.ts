import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import type { AuditEvent } from '../model/index.js'
import { attributesFromEvent, attributesFromRequest, RequestInvalidError } from './attributes.js'

const FULL_LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))
const EVENTS = readFileSync(FULL_LOG, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as AuditEvent)

function event(requestURI: string, verb: string, user: AuditEvent['user'] = { username: 'alice', groups: ['dev'] }): AuditEvent {
  return { kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: 'x', stage: 'ResponseComplete', requestURI, verb, user } as AuditEvent
}

describe('attributesFromEvent on every event of a real kube-apiserver log', () => {
  const pairs = EVENTS.map((e) => ({ e, a: attributesFromEvent(e) }))

  it('agrees with objectRef (which the apiserver builds from the same RequestInfo) on resource requests', () => {
    const resourceRequests = pairs.filter((p) => p.a.isResourceRequest)
    expect(resourceRequests.length).toBeGreaterThan(1000)
    for (const { e, a } of resourceRequests) {
      const o = e.objectRef ?? {}
      const where = `${e.verb} ${e.requestURI}`
      expect({ resource: a.resource, subresource: a.subresource, apiGroup: a.apiGroup, namespace: a.namespace }, where).toEqual({
        resource: o.resource ?? '',
        subresource: o.subresource ?? '',
        apiGroup: o.apiGroup ?? '',
        namespace: o.namespace ?? '',
      })
      // objectRef.name of a create is filled in later from the body; the checker saw no name
      if (e.verb === 'create' && a.subresource === '') expect(a.name, where).toBe('')
      else expect(a.name, where).toBe(o.name ?? '')
    }
  })

  it('creates really do carry a name in objectRef that the checker never saw', () => {
    const named = pairs.filter((p) => p.e.verb === 'create' && p.a.subresource === '' && (p.e.objectRef?.name ?? '') !== '')
    expect(named.length).toBeGreaterThan(0)
    expect(named.every((p) => p.a.name === '')).toBe(true)
  })

  it('non-resource requests have no objectRef; paths never keep the query; the verb is the recorded one', () => {
    const nonResource = pairs.filter((p) => !p.a.isResourceRequest)
    expect(nonResource.length).toBeGreaterThan(100)
    for (const { e } of nonResource) expect(e.objectRef, e.requestURI).toBeUndefined()
    for (const { e, a } of pairs) {
      expect(a.path).not.toContain('?')
      expect(e.requestURI.startsWith(a.path)).toBe(true)
      expect(a.verb).toBe(e.verb)
    }
    expect(nonResource.every((p) => /^[a-z]+$/.test(p.a.verb))).toBe(true)
  })

  it('uses the authenticating user, not the impersonated one; a failed login has no user', () => {
    const impersonating = pairs.filter((p) => p.e.impersonatedUser !== undefined)
    expect(impersonating.length).toBeGreaterThan(0)
    for (const { e, a } of impersonating) {
      expect(a.user).toBe(e.user.username)
      expect(a.groups).toEqual(e.user.groups)
    }
    const anonymous = pairs.filter((p) => p.a.user === null)
    expect(anonymous.length).toBeGreaterThan(0)
    for (const { e, a } of anonymous) {
      expect(e.responseStatus?.code).toBe(401)
      expect(a.groups).toEqual([])
    }
  })
})

describe('attributesFromEvent: RequestInfo edge cases', () => {
  const at = (uri: string, verb: string) => attributesFromEvent(event(uri, verb))

  it.each([
    ['/api/v1/namespaces/foo', 'get', { namespace: 'foo', resource: 'namespaces', name: 'foo', subresource: '' }],
    ['/api/v1/namespaces/foo/status', 'update', { namespace: 'foo', resource: 'namespaces', name: 'foo', subresource: 'status' }],
    ['/api/v1/namespaces/foo/finalize', 'update', { namespace: 'foo', resource: 'namespaces', name: 'foo', subresource: 'finalize' }],
    ['/api/v1/namespaces', 'list', { namespace: '', resource: 'namespaces', name: '' }],
    ['/api/v1/namespaces', 'create', { namespace: '', resource: 'namespaces', name: '' }],
    ['/api/v1/namespaces/prod/pods', 'create', { namespace: 'prod', resource: 'pods', name: '' }],
    ['/apis/apps/v1/namespaces/prod/deployments/api/scale', 'patch', { apiGroup: 'apps', namespace: 'prod', resource: 'deployments', name: 'api', subresource: 'scale' }],
    ['/api/v1/namespaces/prod/pods?fieldSelector=metadata.name%3Dweb', 'list', { resource: 'pods', name: 'web' }],
    ['/api/v1/pods?watch=1&fieldSelector=metadata.name==web', 'watch', { resource: 'pods', name: 'web', namespace: '' }],
    // only a GET without a name is parsed for list options: not DELETE, not the legacy /watch/ prefix
    ['/api/v1/namespaces/prod/pods?fieldSelector=metadata.name%3Dweb', 'deletecollection', { resource: 'pods', name: '' }],
    ['/api/v1/watch/namespaces/prod/pods?fieldSelector=metadata.name%3Dweb', 'watch', { namespace: 'prod', resource: 'pods', name: '' }],
    ['/api/v1/watch/namespaces/prod/pods/web', 'watch', { namespace: 'prod', resource: 'pods', name: 'web' }],
    ['/api/v1/nodes/n1/proxy/metrics', 'get', { resource: 'nodes', name: 'n1', subresource: 'proxy' }],
    ['/api/v1/namespaces/prod/pods/web/exec?command=id', 'get', { resource: 'pods', name: 'web', subresource: 'exec', path: '/api/v1/namespaces/prod/pods/web/exec' }],
    ['/apis/rbac.authorization.k8s.io/v1/clusterroles/admin', 'update', { apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'admin', namespace: '' }],
  ])('%s (%s)', (uri, verb, expected) => {
    const a = at(uri, verb)
    expect(a.isResourceRequest).toBe(true)
    expect(a).toMatchObject({ subresource: '', apiGroup: '', ...expected })
  })

  it.each(['/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/healthz?verbose', '/livez/etcd', '/version', '/openapi/v2', '/logs/kube-apiserver.log', '/'])(
    '%s is a non-resource request',
    (uri) => {
      const a = at(uri, 'get')
      expect(a).toMatchObject({ isResourceRequest: false, resource: '', namespace: '', apiGroup: '', verb: 'get', path: uri.split('?')[0] })
    },
  )

  it('a failed authentication (user {}) has no user', () => {
    expect(attributesFromEvent(event('/api', 'get', {})).user).toBeNull()
    expect(attributesFromEvent(event('/api', 'get', { username: 'system:anonymous', groups: ['system:unauthenticated'] })).user).toBe('system:anonymous')
  })

  it('never throws on arbitrary request URIs', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl().map((u) => new URL(u).pathname + new URL(u).search)), fc.constantFrom('get', 'list', 'watch', 'create'), (uri, verb) => {
        const a = at(uri, verb)
        expect(typeof a.isResourceRequest).toBe('boolean')
        // the query is cut off; a "?" can only come from decoding %3F in the path (as Go's URL.Path does)
        if (!uri.split('?')[0]!.includes('%')) expect(a.path.includes('?')).toBe(false)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('attributesFromRequest (the --requests shape)', () => {
  it('defaults resourceRequest from resource/path and splits resource/subresource shorthand', () => {
    expect(attributesFromRequest({ verb: 'get', resource: 'pods/exec', namespace: 'p', name: 'w', user: 'a', groups: ['g'] })).toEqual({
      user: 'a',
      groups: ['g'],
      verb: 'get',
      apiGroup: '',
      resource: 'pods',
      subresource: 'exec',
      namespace: 'p',
      name: 'w',
      path: '',
      isResourceRequest: true,
    })
    expect(attributesFromRequest({ verb: 'get', path: '/healthz' })).toMatchObject({ isResourceRequest: false, user: null, groups: [], path: '/healthz' })
  })

  it.each([
    [{ verb: 'get', resource: 42 }, 'resource: must be a string, got 42'],
    [{ verb: 'get', resource: 'pods', groups: 'dev' }, 'groups: must be an array of strings'],
    [{ verb: 'get', resource: 'pods', user: 7 }, 'user: must be a string or null'],
    [{ resource: 'pods' }, 'verb: is required'],
    [{ verb: 'get' }, 'path: is required for a non-resource request'],
    [{ verb: 'get', resource: 'pods', resourceRequest: 'yes' }, 'resourceRequest: must be true or false'],
    [{ verb: 'get', resource: 'pods', namspace: 'x' }, 'namspace: unknown key'],
    [[1, 2], '(root): must be a JSON object'],
  ])('%j is rejected naming the field', (value, message) => {
    expect(() => attributesFromRequest(value)).toThrow(RequestInvalidError)
    expect(() => attributesFromRequest(value)).toThrow(message)
  })
})
