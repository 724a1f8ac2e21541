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
import type { AuditEvent } from '../model/index.js'
import { KubetrailError } from '../core/errors.js'
import type { RequestAttributes } from './types.js'

/** What `RequestInfoFactory.NewRequestInfo` derives from a URL (the parts the policy uses). */
export interface RequestInfo {
  isResourceRequest: boolean
  path: string
  verb: string
  apiGroup: string
  apiVersion: string
  namespace: string
  resource: string
  subresource: string
  name: string
}

const API_PREFIXES = new Set(['api', 'apis'])
const GROUPLESS_PREFIXES = new Set(['api'])
const SPECIAL_VERBS = new Set(['proxy', 'watch'])
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy'])
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize'])

const METHOD_VERBS: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
}

function decodePath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath)
  } catch {
    return rawPath // Go keeps the raw path when it cannot be unescaped
  }
}

/** strconv.ParseBool */
function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false
  return undefined
}

function isWatch(query: URLSearchParams): boolean {
  const values = query.getAll('watch')
  if (values.length === 0) return false
  const parsed = parseGoBool(values[0]!)
  if (parsed !== undefined) return parsed
  // requestinfo.go: on a decoding error, any watch value but "false"/"0" still means watch
  const lower = values[0]!.toLowerCase()
  return lower !== 'false' && lower !== '0'
}

/** `fieldSelector` requiring `metadata.name` (= or ==), if its value is a valid path segment name. */
function nameFromFieldSelector(query: URLSearchParams): string {
  const selector = query.get('fieldSelector')
  if (!selector) return ''
  for (const term of selector.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(term)
    if (m && !term.includes('!=')) {
      const name = m[1]!
      if (name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%')) return name
    }
  }
  return ''
}

/**
 * `NewRequestInfo` for a URL. `method` is the HTTP method; when unknown (a recorded event),
 * pass `recordedVerb` instead and it is used as the verb.
 */
export function parseRequestInfo(requestURI: string, method: string | undefined, recordedVerb?: string): RequestInfo {
  const q = requestURI.indexOf('?')
  const path = decodePath(q < 0 ? requestURI : requestURI.slice(0, q))
  const query = new URLSearchParams(q < 0 ? '' : requestURI.slice(q + 1))
  const info: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: recordedVerb ?? (method ?? '').toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  }
  // splitPath: trim slashes, split; "" → no parts
  const trimmed = path.replace(/^\/+|\/+$/g, '')
  let parts = trimmed === '' ? [] : trimmed.split('/')
  if (parts.length < 3 || !API_PREFIXES.has(parts[0]!)) return info
  const prefix = parts[0]!
  parts = parts.slice(1)
  if (!GROUPLESS_PREFIXES.has(prefix)) {
    if (parts.length < 3) return info // /apis/<group>/<version> is discovery
    info.apiGroup = parts[0]!
    parts = parts.slice(1)
  }
  info.isResourceRequest = true
  info.apiVersion = parts[0]!
  parts = parts.slice(1)
  if (SPECIAL_VERBS.has(parts[0]!)) {
    if (parts.length < 2) {
      // the apiserver answers this URL with an error before auditing a resource request
      return { ...info, isResourceRequest: false, apiGroup: '', apiVersion: '' }
    }
    info.verb = recordedVerb ?? parts[0]!
    parts = parts.slice(1)
  } else {
    info.verb = recordedVerb ?? METHOD_VERBS[(method ?? '').toUpperCase()] ?? ''
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1]!
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2)
    }
  }
  if (parts.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(info.verb)) info.subresource = parts[2]!
  if (parts.length >= 2) info.name = parts[1]!
  if (parts.length >= 1) info.resource = parts[0]!
  if (info.name === '' && (recordedVerb === undefined ? info.verb === 'get' : ['list', 'watch', 'deletecollection'].includes(info.verb))) {
    if (recordedVerb === undefined) info.verb = isWatch(query) ? 'watch' : 'list'
    info.name = nameFromFieldSelector(query)
  }
  if (recordedVerb === undefined && info.name === '' && info.verb === 'delete') info.verb = 'deletecollection'
  return info
}

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
