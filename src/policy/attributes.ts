/**
 * @module The request attributes the apiserver's policy checker saw, rebuilt from a recorded
 * event or from a user's description of a request.
 *
 * The checker does not see the event: it sees `authorizer.Attributes` built from `RequestInfo`
 * (k8s.io/apiserver `pkg/endpoints/request/requestinfo.go`) and the authenticated user. That
 * differs from the event in ways that decide which rule matches:
 * - a create has no name (the event's `objectRef.name` is filled in later from the body);
 * - a Namespace object is "in" its own namespace (`/api/v1/namespaces/foo` → namespace foo);
 * - list/watch with `fieldSelector=metadata.name=x` do have a name;
 * - the *authenticating* user is matched, not the impersonated one (the audit filter runs
 *   before impersonation);
 * - a failed authentication has no user at all.
 */
import { parseRequestInfo, type AuditEvent } from '../model/index.js'
import { KubetrailError } from '../core/errors.js'
import type { RequestAttributes } from './types.js'

/** The attributes the checker saw for the request that produced `event`. */
export function attributesFromEvent(event: AuditEvent): RequestAttributes {
  const info = parseRequestInfo(event.requestURI, undefined, event.verb)
  const user = event.user
  return {
    user: user.username === undefined || user.username === '' ? null : user.username,
    groups: user.groups ?? [],
    verb: event.verb,
    apiGroup: info.apiGroup,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
    path: info.path,
    isResourceRequest: info.isResourceRequest,
  }
}

export class RequestInvalidError extends KubetrailError {
  readonly field: string
  constructor(field: string, message: string) {
    super('KT_REQUEST_INVALID', `${field}: ${message}`, {
      hint: 'A request is an object with keys user, groups, verb, apiGroup, resource, subresource, namespace, name, path, resourceRequest.',
    })
    this.field = field
  }
}

const REQUEST_KEYS = new Set(['user', 'groups', 'verb', 'apiGroup', 'resource', 'subresource', 'namespace', 'name', 'path', 'resourceRequest'])

function optionalString(obj: Record<string, unknown>, key: string): string {
  const v = obj[key]
  if (v === undefined || v === null) return ''
  if (typeof v !== 'string') throw new RequestInvalidError(key, `must be a string, got ${JSON.stringify(v)}`)
  return v
}

/**
 * Attributes from the `policy explain --requests` shape. `resource: "pods/exec"` is accepted as
 * resource + subresource. `resourceRequest` defaults to true when a resource is given.
 */
export function attributesFromRequest(value: unknown): RequestAttributes {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RequestInvalidError('(root)', 'must be a JSON object')
  const obj = value as Record<string, unknown>
  for (const key of Object.keys(obj)) if (!REQUEST_KEYS.has(key)) throw new RequestInvalidError(key, 'unknown key')
  const userValue = obj['user']
  if (userValue !== undefined && userValue !== null && typeof userValue !== 'string') throw new RequestInvalidError('user', 'must be a string or null')
  const groups = obj['groups'] ?? []
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')) throw new RequestInvalidError('groups', 'must be an array of strings')
  const verb = optionalString(obj, 'verb')
  if (verb === '') throw new RequestInvalidError('verb', 'is required')
  let resource = optionalString(obj, 'resource')
  let subresource = optionalString(obj, 'subresource')
  const slash = resource.indexOf('/')
  if (slash >= 0 && subresource === '') {
    subresource = resource.slice(slash + 1)
    resource = resource.slice(0, slash)
  }
  const rr = obj['resourceRequest']
  if (rr !== undefined && typeof rr !== 'boolean') throw new RequestInvalidError('resourceRequest', 'must be true or false')
  const isResourceRequest = rr ?? resource !== ''
  const path = optionalString(obj, 'path')
  if (!isResourceRequest && path === '') throw new RequestInvalidError('path', 'is required for a non-resource request')
  if (isResourceRequest && resource === '') throw new RequestInvalidError('resource', 'is required for a resource request')
  return {
    user: typeof userValue === 'string' && userValue !== '' ? userValue : null,
    groups: groups as string[],
    verb,
    apiGroup: optionalString(obj, 'apiGroup'),
    resource,
    subresource,
    namespace: optionalString(obj, 'namespace'),
    name: optionalString(obj, 'name'),
    path,
    isResourceRequest,
  }
}
