/**
 * @module The CEL environment rules are written in: the audit Event's fields as typed variables
 * (so a misspelt field is an error when the rule is loaded, not a silent non-match), bodies as
 * `dyn`, and helper functions for what CEL cannot say well about audit events.
 */
import { Environment } from '@marcbachmann/cel-js'
import { isExternalIP, userKind, type AuditEvent } from '../model/index.js'
import { addedCapabilities, hostPaths, privilegeSettings, roleResources, roleVerbs } from './pod-spec.js'

const USER = { username: 'string', uid: 'string', groups: 'list<string>', extra: 'map<string, list<string>>' }

let env: Environment | undefined

/** One shared environment (registering is the expensive part). */
export function ruleEnvironment(): Environment {
  if (env) return env
  env = new Environment({ unlistedVariablesAreDyn: false, homogeneousAggregateLiterals: false })
    .registerVariable('kind', 'string')
    .registerVariable('apiVersion', 'string')
    .registerVariable('level', 'string')
    .registerVariable('auditID', 'string')
    .registerVariable('stage', 'string')
    .registerVariable('requestURI', 'string')
    .registerVariable('verb', 'string')
    .registerVariable({ name: 'user', schema: USER })
    .registerVariable({ name: 'impersonatedUser', schema: USER })
    .registerVariable('sourceIPs', 'list<string>')
    .registerVariable('userAgent', 'string')
    .registerVariable({ name: 'objectRef', schema: { resource: 'string', namespace: 'string', name: 'string', uid: 'string', apiGroup: 'string', apiVersion: 'string', resourceVersion: 'string', subresource: 'string' } })
    .registerVariable({ name: 'responseStatus', schema: { code: 'int', status: 'string', reason: 'string', message: 'string', metadata: 'dyn', details: 'dyn' } })
    .registerVariable('requestObject', 'dyn')
    .registerVariable('responseObject', 'dyn')
    .registerVariable('requestReceivedTimestamp', 'string')
    .registerVariable('stageTimestamp', 'string')
    .registerVariable('annotations', 'map<string, string>')
    .registerFunction('isExternalIP(string): bool', (ip: string) => isExternalIP(ip))
    .registerFunction('userKind(string): string', (name: string) => userKind(name))
    .registerFunction('privilegeSettings(dyn): list<string>', (body: unknown) => privilegeSettings(body))
    .registerFunction('hostPaths(dyn): list<string>', (body: unknown) => hostPaths(body))
    .registerFunction('addedCapabilities(dyn): list<string>', (body: unknown) => addedCapabilities(body))
    .registerFunction('roleVerbs(dyn): list<string>', (body: unknown) => roleVerbs(body))
    .registerFunction('roleResources(dyn): list<string>', (body: unknown) => roleResources(body))
  return env
}

/**
 * The evaluation context for an event: absent optional fields are filled with empty values so
 * `user.username == "x"` is false rather than an error, and the response code is a CEL int.
 */
export function celContext(e: AuditEvent): Record<string, unknown> {
  const rs = e.responseStatus
  return {
    ...e,
    kind: e.kind ?? 'Event',
    apiVersion: e.apiVersion ?? 'audit.k8s.io/v1',
    user: { username: '', uid: '', groups: [], extra: {}, ...e.user },
    impersonatedUser: { username: '', uid: '', groups: [], extra: {}, ...(e.impersonatedUser ?? {}) },
    sourceIPs: e.sourceIPs ?? [],
    userAgent: e.userAgent ?? '',
    objectRef: { resource: '', namespace: '', name: '', uid: '', apiGroup: '', apiVersion: '', resourceVersion: '', subresource: '', ...(e.objectRef ?? {}) },
    responseStatus: { status: '', reason: '', message: '', metadata: {}, details: {}, ...(rs ?? {}), code: BigInt(Math.trunc(rs?.code ?? 0)) },
    requestObject: e.requestObject ?? null,
    responseObject: e.responseObject ?? null,
    annotations: e.annotations ?? {},
  }
}
