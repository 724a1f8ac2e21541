import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import type { AuditEvent } from '../model/index.js'
import { parseLegacyLine, readAuditLogAll, toMicroTime } from './index.js'

const run = (name: string) => requireFixture(resolve(FIXTURES_DIR, 'runs', name))

/** What the legacy format can carry, to compare it with the same request logged as JSON. */
function comparable(e: AuditEvent) {
  const ref = e.objectRef
  return {
    // the format has no uid and no extra
    user: { username: e.user.username, groups: e.user.groups },
    impersonatedUser: e.impersonatedUser && { username: e.impersonatedUser.username, groups: e.impersonatedUser.groups },
    sourceIP: e.sourceIPs?.[0],
    // (response codes are left out: the two runs' bootstrap requests answered differently)
    hasCode: e.responseStatus?.code !== undefined,
    // a create's name comes from the request body, which the legacy line does not have
    objectRef: ref && { resource: ref.resource, subresource: ref.subresource, namespace: ref.namespace, name: e.verb === 'create' ? undefined : ref.name, apiGroup: ref.apiGroup, apiVersion: ref.apiVersion },
  }
}

const key = (e: AuditEvent) => [e.verb, e.requestURI, e.stage, e.user.username, e.impersonatedUser?.username].join(' ')

describe('legacy format', () => {
  it('every line of the legacy-format run is an event, as the wc -l table says', async () => {
    const lines = readFileSync(run('legacy-format/audit.log'), 'utf8').split('\n').filter(Boolean)
    const { records, malformed } = await readAuditLogAll(run('legacy-format/audit.log'))
    expect(malformed).toEqual([])
    expect(records.length).toBe(955)
    expect(records.length).toBe(lines.length)
    for (const r of records) {
      expect(r.legacy).toBe(true)
      expect(r.event.level).toBe('Metadata')
      expect(r.event.stageTimestamp).toBe(r.event.requestReceivedTimestamp)
      expect(r.event.requestReceivedTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
      expect(r.event.auditID).toBe(/id="([^"]+)"/.exec(lines[r.line - 1]!)![1])
    }
    expect(records.filter((r) => r.event.stage === 'ResponseStarted').length).toBe(45)
  })

  it('agrees with the same requests logged as JSON by a run with the same policy and traffic (seed-main)', async () => {
    const json = new Map<string, AuditEvent>()
    for (const r of (await readAuditLogAll(run('seed-main/audit.log'))).records) json.set(key(r.event), r.event)
    let matched = 0
    for (const r of (await readAuditLogAll(run('legacy-format/audit.log'))).records) {
      const twin = json.get(key(r.event))
      if (!twin) continue
      matched++
      expect(comparable(r.event)).toEqual(comparable(twin))
    }
    // cluster-internal requests differ between runs; the scripted traffic matches
    expect(matched).toBeGreaterThan(300)
  })

  it('reads impersonation, failed authentication, deferred responses and cluster scope', () => {
    const ts = '2026-11-22T21:09:08.5690663Z'
    const ev = parseLegacyLine(
      `${ts} AUDIT: id="a1" stage="ResponseComplete" ip="10.0.0.1" method="get" user="admin" groups="\\"system:masters\\",\\"system:authenticated\\"" as="alice" asgroups="\\"dev\\"" user-agent="kubectl/v1.20" namespace="prod" uri="/apis/apps/v1/namespaces/prod/deployments/web/scale" response="200"`,
    ) as AuditEvent
    expect(ev).toMatchObject({
      auditID: 'a1',
      verb: 'get',
      user: { username: 'admin', groups: ['system:masters', 'system:authenticated'] },
      impersonatedUser: { username: 'alice', groups: ['dev'] },
      userAgent: 'kubectl/v1.20',
      sourceIPs: ['10.0.0.1'],
      objectRef: { resource: 'deployments', subresource: 'scale', namespace: 'prod', name: 'web', apiGroup: 'apps', apiVersion: 'v1' },
      responseStatus: { code: 200 },
      requestReceivedTimestamp: '2026-11-22T21:09:08.569066Z',
    })
    const anon = parseLegacyLine(`${ts} AUDIT: id="a2" stage="ResponseStarted" ip="10.0.0.1" method="watch" user="<none>" groups="<none>" as="<self>" asgroups="<lookup>" namespace="<none>" uri="/api/v1/nodes?watch=1" response="<deferred>"`) as AuditEvent
    expect(anon.user).toEqual({})
    expect(anon.impersonatedUser).toBeUndefined()
    expect(anon.responseStatus).toBeUndefined()
    expect(anon.objectRef).toEqual({ resource: 'nodes', apiVersion: 'v1' })
    expect(parseLegacyLine(`${ts} AUDIT: id="a3" stage="Nope" method="get" uri="/"`)).toBe('stage: "Nope" is not a stage')
  })

  it('normalises RFC3339Nano timestamps to microseconds', () => {
    expect(toMicroTime('2026-11-22T21:09:08.56906637Z')).toBe('2026-11-22T21:09:08.569066Z')
    expect(toMicroTime('2026-11-22T21:09:08.5690663Z')).toBe('2026-11-22T21:09:08.569066Z')
    expect(toMicroTime('2026-11-22T21:09:08.123456789Z')).toBe('2026-11-22T21:09:08.123456Z')
    expect(toMicroTime('2026-11-22T21:09:08Z')).toBe('2026-11-22T21:09:08.000000Z')
    expect(toMicroTime('2026-11-22T23:09:08.5+02:00')).toBe('2026-11-22T21:09:08.500000Z')
    expect(toMicroTime('yesterday')).toBeUndefined()
  })
})
