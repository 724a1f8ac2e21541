/**
 * @module What the collector adds to every event, as plain functions: the kind of user who made
 * the request and whether a source address is external. The store computes the same two things
 * in SQL (`user_kind`, `source_external`); a test holds them equal on real events.
 */
import { BlockList, isIP } from 'node:net'
import { isJsonObject, type JsonObject } from '../core/json.js'
import type { AuditEvent } from './audit.js'

export const USER_KINDS = ['human', 'serviceaccount', 'node', 'system', 'anonymous', 'unauthenticated'] as const
export type UserKind = (typeof USER_KINDS)[number]

/** `unauthenticated` is a failed login (the apiserver logs `user: {}`); `anonymous` got in as system:anonymous. */
export function userKind(username: string | undefined): UserKind {
  if (!username) return 'unauthenticated'
  if (username === 'system:anonymous') return 'anonymous'
  if (username.startsWith('system:serviceaccount:')) return 'serviceaccount'
  if (username.startsWith('system:node:')) return 'node'
  if (username.startsWith('system:')) return 'system'
  return 'human'
}

/** Addresses that are not "external": RFC 1918, loopback, link-local, CGNAT, unspecified, IPv6 ULA and link-local. */
const INTERNAL = new BlockList()
for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['169.254.0.0', 16], ['100.64.0.0', 10], ['0.0.0.0', 8]] as const)
  INTERNAL.addSubnet(net, bits, 'ipv4')
for (const [net, bits] of [['::1', 128], ['fc00::', 7], ['fe80::', 10], ['::', 128]] as const) INTERNAL.addSubnet(net, bits, 'ipv6')

/** Dotted-quad IPv4 (no leading zeros, as isIP) → its 4 octets, or undefined. By character codes: the common case, for every event. */
function ipv4Octets(ip: string): number[] | undefined {
  const octets: number[] = []
  let value = 0
  let width = 0
  for (let i = 0; i <= ip.length; i++) {
    const c = i === ip.length ? 46 : ip.charCodeAt(i)
    if (c === 46) {
      if (width === 0 || value > 255 || octets.length === 4) return undefined
      octets.push(value)
      value = 0
      width = 0
    } else if (c >= 48 && c <= 57) {
      if (width > 0 && value === 0) return undefined // a leading zero
      value = value * 10 + c - 48
      if (++width > 3) return undefined
    } else return undefined
  }
  return octets.length === 4 ? octets : undefined
}

function privateIPv4([a, b]: number[]): boolean {
  return a === 10 || a === 127 || a === 0 || (a === 169 && b === 254) || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168) || (a === 100 && b! >= 64 && b! <= 127)
}

/** False for anything that is not an IP address. */
export function isExternalIP(ip: string): boolean {
  const v4 = ipv4Octets(ip)
  if (v4) return !privateIPv4(v4)
  const family = isIP(ip)
  if (family === 0) return false
  if (family === 6 && ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4) return isExternalIP(ip.slice(7))
  return !INTERNAL.check(ip, family === 4 ? 'ipv4' : 'ipv6')
}

/** The resources whose create and update bodies carry a pod spec (a Pod, or a workload's template). */
export const POD_SPEC_RESOURCES: ReadonlyArray<{ apiGroup: string; resource: string }> = [
  { apiGroup: '', resource: 'pods' },
  ...['deployments', 'daemonsets', 'statefulsets', 'replicasets'].map((resource) => ({ apiGroup: 'apps', resource })),
  ...['jobs', 'cronjobs'].map((resource) => ({ apiGroup: 'batch', resource })),
]

/** The request is on the object itself (no subresource) of one of POD_SPEC_RESOURCES. */
export function carriesPodSpec(ref: { resource?: string; apiGroup?: string; subresource?: string } | undefined): boolean {
  return !ref?.subresource && POD_SPEC_RESOURCES.some((r) => r.resource === ref?.resource && r.apiGroup === (ref?.apiGroup ?? ''))
}

type Obj = JsonObject

/** The pod spec inside a Pod, a workload's template, or a CronJob's job template. */
export function podSpecOf(body: unknown): Obj | undefined {
  if (!isJsonObject(body)) return undefined
  const spec = body['spec']
  if (!isJsonObject(spec)) return undefined
  if (body['kind'] === 'Pod') return spec
  const template = isJsonObject(spec['template']) ? spec['template'] : isJsonObject(spec['jobTemplate']) && isJsonObject((spec['jobTemplate'] as Obj)['spec']) ? (((spec['jobTemplate'] as Obj)['spec'] as Obj)['template'] as Obj | undefined) : undefined
  return isJsonObject(template) && isJsonObject(template['spec']) ? (template['spec'] as Obj) : undefined
}

/** Privileged, host namespaces or hostPath in any container, init container or ephemeral container. */
export function privilegedReasons(body: unknown): string[] {
  const spec = podSpecOf(body)
  if (!spec) return []
  const reasons: string[] = []
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[ns] === true) reasons.push(ns)
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    const containers = spec[list]
    if (!Array.isArray(containers)) continue
    for (const c of containers) if (isJsonObject(c) && isJsonObject(c['securityContext']) && (c['securityContext'] as Obj)['privileged'] === true) reasons.push(`privileged ${list === 'containers' ? 'container' : list.slice(0, -1)} ${String(c['name'] ?? '')}`.trim())
  }
  const volumes = spec['volumes']
  if (Array.isArray(volumes)) for (const v of volumes) if (isJsonObject(v) && isJsonObject(v['hostPath'])) reasons.push(`hostPath ${String((v['hostPath'] as Obj)['path'] ?? '')}`)
  return reasons
}

/** A TokenReview answered "not authenticated" (Go omits `authenticated: false`; `error` says why). Needs RequestResponse-level events. */
export function tokenReviewFailed(e: AuditEvent): boolean {
  const resp = e.responseObject
  return e.verb === 'create' && isJsonObject(resp) && isJsonObject(resp['status']) && (resp['status'] as Obj)['authenticated'] !== true
}
