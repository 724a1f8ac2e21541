/**
 * @module How kube-apiserver reads a request URL: `RequestInfoFactory.NewRequestInfo` from
 * k8s.io/apiserver `pkg/endpoints/request/requestinfo.go`. The policy checker, the legacy-log
 * reader and queries all need the same reading, so it lives with the model.
 */
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
  // Hot path of every replay: no URLSearchParams, no regular expressions unless needed.
  const q = requestURI.indexOf('?')
  const rawPath = q < 0 ? requestURI : requestURI.slice(0, q)
  const path = rawPath.includes('%') ? decodePath(rawPath) : rawPath
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
  let from = 0
  let to = path.length
  while (from < to && path.charCodeAt(from) === 47) from++
  while (to > from && path.charCodeAt(to - 1) === 47) to--
  const all = from === to ? [] : path.slice(from, to).split('/')
  if (all.length < 3 || !API_PREFIXES.has(all[0]!)) return info
  let i = 1
  if (!GROUPLESS_PREFIXES.has(all[0]!)) {
    if (all.length - i < 3) return info // /apis/<group>/<version> is discovery
    info.apiGroup = all[i++]!
  }
  info.isResourceRequest = true
  info.apiVersion = all[i++]!
  const verbViaPath = SPECIAL_VERBS.has(all[i]!)
  if (verbViaPath) {
    if (all.length - i < 2) {
      // the apiserver answers this URL with an error before auditing a resource request
      return { ...info, isResourceRequest: false, apiGroup: '', apiVersion: '' }
    }
    info.verb = recordedVerb ?? all[i]!
    i++
  } else {
    info.verb = recordedVerb ?? METHOD_VERBS[(method ?? '').toUpperCase()] ?? ''
  }
  if (all[i] === 'namespaces' && all.length - i > 1) {
    info.namespace = all[i + 1]!
    if (all.length - i > 2 && !NAMESPACE_SUBRESOURCES.has(all[i + 2]!)) i += 2
  }
  const n = all.length - i
  if (n >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(info.verb)) info.subresource = all[i + 2]!
  if (n >= 2) info.name = all[i + 1]!
  if (n >= 1) info.resource = all[i]!
  // Only a GET without a name is parsed for list options (watch, fieldSelector): not a DELETE
  // (deletecollection) and not the legacy /watch/ path prefix, whose verb comes from the path.
  const listLike = recordedVerb === undefined ? info.verb === 'get' : !verbViaPath && (info.verb === 'list' || info.verb === 'watch')
  if (info.name === '' && listLike) {
    const query = new URLSearchParams(q < 0 ? '' : requestURI.slice(q + 1))
    if (recordedVerb === undefined) info.verb = isWatch(query) ? 'watch' : 'list'
    if (q >= 0 && requestURI.includes('fieldSelector', q)) info.name = nameFromFieldSelector(query)
  }
  if (recordedVerb === undefined && info.name === '' && info.verb === 'delete') info.verb = 'deletecollection'
  return info
}
