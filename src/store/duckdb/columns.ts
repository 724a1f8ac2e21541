/**
 * @module The store's flattened columns and how each is computed from an event in SQL (`t` is the
 * event parsed once by json_transform, `raw` its text), with the checks that reject a malformed
 * event. The enrichment columns restate functions of src/model and src/query; tests hold them equal.
 */
import { AUDIT_TIME_PATTERN, POD_SPEC_RESOURCES } from '../../model/index.js'
import { PRIVATE_IPV4_PREFIX } from './query-sql.js'

/** A SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

/** A timestamp as the chain's ISO text (the format of `firstAt`/`lastAt`). */
export const ISO_TIME = (expr: string) => `strftime(${expr}, '%Y-%m-%dT%H:%M:%S.%fZ')`

/** An audit time (`auditTimeMicros` in src/model, under the same pattern: strptime alone accepts `2024-1-1T0:0:0Z`). */
export const TS = (expr: string) =>
  `CASE WHEN regexp_full_match(${expr}, '${AUDIT_TIME_PATTERN}') THEN coalesce(try_strptime(${expr}, '%Y-%m-%dT%H:%M:%S.%fZ'), try_strptime(${expr}, '%Y-%m-%dT%H:%M:%SZ')) END`

/** Who made the request (the collector's enrichment; `userKind` in src/model is the same rule). */
const USER_KIND_SQL = `CASE
  WHEN t.user.username IS NULL OR t.user.username = '' THEN 'unauthenticated'
  WHEN t.user.username = 'system:anonymous' THEN 'anonymous'
  WHEN starts_with(t.user.username, 'system:serviceaccount:') THEN 'serviceaccount'
  WHEN starts_with(t.user.username, 'system:node:') THEN 'node'
  WHEN starts_with(t.user.username, 'system:') THEN 'system'
  ELSE 'human' END`

/** Node's own IPv6 text check (lib/internal/net.js, which `isIP` uses), zone index included, for RE2. */
const NODE_IPV6 = (() => {
  const v4Seg = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])'
  const v4Str = `(?:${v4Seg}\\.){3}${v4Seg}`
  const v6Seg = '(?:[0-9a-fA-F]{1,4})'
  return '(?:' +
    `(?:${v6Seg}:){7}(?:${v6Seg}|:)|` +
    `(?:${v6Seg}:){6}(?:${v4Str}|:${v6Seg}|:)|` +
    `(?:${v6Seg}:){5}(?::${v4Str}|(?::${v6Seg}){1,2}|:)|` +
    `(?:${v6Seg}:){4}(?:(?::${v6Seg}){0,1}:${v4Str}|(?::${v6Seg}){1,3}|:)|` +
    `(?:${v6Seg}:){3}(?:(?::${v6Seg}){0,2}:${v4Str}|(?::${v6Seg}){1,4}|:)|` +
    `(?:${v6Seg}:){2}(?:(?::${v6Seg}){0,3}:${v4Str}|(?::${v6Seg}){1,5}|:)|` +
    `(?:${v6Seg}:){1}(?:(?::${v6Seg}){0,4}:${v4Str}|(?::${v6Seg}){1,6}|:)|` +
    `(?::(?:(?::${v6Seg}){0,5}:${v4Str}|(?::${v6Seg}){1,7}|:))` +
    ')(?:%[0-9a-zA-Z-.:]{1,})?'
})()

const IPV4 = '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'

/**
 * An address outside private, loopback, link-local, CGNAT and unspecified ranges: `isExternalIP`
 * in src/model, which asks Node's BlockList. Over IPv6 text that means reading it as BlockList
 * does: the zone index ignored, an IPv4-mapped address (`::ffff:a.b.c.d`, in any spelling of
 * its zero groups, dotted or in hex) judged as IPv4, `::` and `::1` in any spelling. A property
 * test holds the two equal.
 */
const EXTERNAL_IP_SQL = (ip: string) => {
  const bare = `lower(regexp_replace(${ip}, '%.*$', ''))`
  const dotted = `regexp_extract(${bare}, '^[0:]*:ffff:(${IPV4})$', 1)`
  const hex = `regexp_extract(${bare}, '^[0:]*:ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$', 1)`
  const privateV4 = (v4: string) => `regexp_matches(${v4}, '${PRIVATE_IPV4_PREFIX}')`
  // the first two octets of a mapped address written in hex: all the IPv4 ranges need
  const hexAsDotted = `(CAST(('0x' || ${hex}) AS INTEGER) // 256)::VARCHAR || '.' || (CAST(('0x' || ${hex}) AS INTEGER) % 256)::VARCHAR || '.0.0'`
  const private6 = `(regexp_full_match(${bare}, '[0:.]*') OR regexp_full_match(${bare}, '[0:]*:(0{0,3}1|0\\.0\\.0\\.1)')
    OR regexp_matches(${bare}, '^f[cd][0-9a-f]{2}:|^fe[89ab][0-9a-f]:'))`
  return `(CASE WHEN regexp_full_match(${ip}, '${IPV4}') THEN NOT ${privateV4(ip)}
    WHEN NOT regexp_full_match(${ip}, '${NODE_IPV6}') THEN false
    WHEN ${dotted} <> '' THEN NOT ${privateV4(dotted)}
    WHEN ${hex} <> '' THEN NOT ${privateV4(hexAsDotted)}
    ELSE NOT ${private6} END)`
}

/** `carriesPodSpec` in src/model, over the parsed event `t`. */
const CARRIES_POD_SPEC_SQL = `coalesce(t.objectRef.subresource, '') = '' AND (${POD_SPEC_RESOURCES.map(
  (r) => `(t.objectRef.resource = ${sqlString(r.resource)} AND coalesce(t.objectRef.apiGroup, '') = ${sqlString(r.apiGroup)})`,
).join(' OR ')})`

/** What the privileged check reads of a pod spec; json_transform is lenient: what is not of this shape reads as NULL. */
const POD_SPEC_STRUCT = JSON.stringify({
  hostNetwork: 'JSON', hostPID: 'JSON', hostIPC: 'JSON',
  containers: [{ securityContext: { privileged: 'JSON' } }], initContainers: [{ securityContext: { privileged: 'JSON' } }],
  ephemeralContainers: [{ securityContext: { privileged: 'JSON' } }], volumes: [{ hostPath: 'JSON' }],
})

/**
 * The request body of a pod or workload request is privileged, shares a host namespace or mounts
 * a hostPath (`privilegedReasons` in src/query; a test holds them equal). Reads `pod_spec`,
 * which BODY_STAGES extract only for those requests, so the column costs the others nothing.
 */
const PRIVILEGED_POD_SQL = (() => {
  const hostNs = ['hostNetwork', 'hostPID', 'hostIPC'].map((k) => `pod_spec.${k} = 'true'`)
  const containers = ['containers', 'initContainers', 'ephemeralContainers'].map((k) => `list_bool_or(list_transform(pod_spec.${k}, c -> c.securityContext.privileged = 'true'))`)
  const hostPath = `list_bool_or(list_transform(pod_spec.volumes, v -> json_type(v.hostPath) = 'OBJECT'))`
  return `CASE WHEN pod_spec IS NULL THEN false ELSE ${[...hostNs, ...containers, hostPath].map((c) => `coalesce(${c}, false)`).join(' OR ')} END`
})()

/** A failed authentication: a 401, or a TokenReview that did not authenticate the token (`tokenReviewFailed` in src/query). */
const AUTH_FAILED_SQL = `coalesce(t.responseStatus.code = 401, false)
  OR coalesce(json_type(review_status) = 'OBJECT' AND coalesce((review_status->'$.authenticated')::VARCHAR, '') <> 'true', false)`

/**
 * Wraps the rows of `t` (the parsed event) in the stages that extract the bodies the two columns
 * above read, each parsed only from the requests it concerns: the request body, then the pod spec
 * in it (a Pod's own, a workload's template, a CronJob's job template), then its fields.
 */
export function withBodies(rowsWithT: string): string {
  const podRequest = `${CARRIES_POD_SPEC_SQL} AND t.level IN ('Request', 'RequestResponse')`
  const review = `t.objectRef.resource = 'tokenreviews' AND t.objectRef.apiGroup = 'authentication.k8s.io' AND t.verb = 'create' AND t.level = 'RequestResponse'`
  const specOf = `CASE WHEN request_body->>'$.kind' = 'Pod' THEN request_body->'$.spec'
    WHEN json_type(request_body, '$.spec.template') = 'OBJECT' THEN request_body->'$.spec.template.spec'
    ELSE request_body->'$.spec.jobTemplate.spec.template.spec' END`
  return `(SELECT * EXCLUDE (request_body), json_transform(${specOf}, ${sqlString(POD_SPEC_STRUCT)}) AS pod_spec FROM (
    SELECT *, CASE WHEN ${podRequest} THEN json_extract(raw, '$.requestObject') END AS request_body,
      CASE WHEN ${review} THEN json_extract(raw, '$.responseObject.status') END AS review_status
    FROM ${rowsWithT}))`
}

/** Flattened columns, in stored (and hashed) order (documented in docs/store.md), from `t` = the event parsed once by json_transform. */
export const COLUMNS: Array<[name: string, type: string, expr: string]> = [
  ['cluster', 'VARCHAR', '$cluster'],
  ['audit_id', 'VARCHAR', 't.auditID'],
  ['stage', 'VARCHAR', 't.stage'],
  ['level', 'VARCHAR', 't.level'],
  ['verb', 'VARCHAR', 't.verb'],
  ['request_uri', 'VARCHAR', 't.requestURI'],
  ['username', 'VARCHAR', 't.user.username'],
  ['user_uid', 'VARCHAR', 't.user.uid'],
  ['user_groups', 'VARCHAR[]', 'coalesce(t.user.groups, [])'],
  ['impersonated_user', 'VARCHAR', 't.impersonatedUser.username'],
  ['impersonated_groups', 'VARCHAR[]', 'coalesce(t.impersonatedUser.groups, [])'],
  ['source_ips', 'VARCHAR[]', 'coalesce(t.sourceIPs, [])'],
  ['user_agent', 'VARCHAR', 't.userAgent'],
  ['api_group', 'VARCHAR', "coalesce(t.objectRef.apiGroup, '')"],
  ['api_version', 'VARCHAR', 't.objectRef.apiVersion'],
  ['resource', 'VARCHAR', "coalesce(t.objectRef.resource, '')"],
  ['subresource', 'VARCHAR', "coalesce(t.objectRef.subresource, '')"],
  ['namespace', 'VARCHAR', "coalesce(t.objectRef.namespace, '')"],
  ['name', 'VARCHAR', "coalesce(t.objectRef.name, '')"],
  ['object_uid', 'VARCHAR', 't.objectRef.uid'],
  ['code', 'INTEGER', 't.responseStatus.code'],
  ['status_reason', 'VARCHAR', 't.responseStatus.reason'],
  ['status_message', 'VARCHAR', 't.responseStatus.message'],
  ['request_received_at', 'TIMESTAMP', TS('t.requestReceivedTimestamp')],
  ['stage_at', 'TIMESTAMP', TS('t.stageTimestamp')],
  ['annotations', 'VARCHAR', 'CAST(t.annotations AS VARCHAR)'],
  ['user_kind', 'VARCHAR', USER_KIND_SQL],
  ['source_external', 'BOOLEAN', `len(list_filter(coalesce(t.sourceIPs, []), ip -> ${EXTERNAL_IP_SQL('ip')})) > 0`],
  ['privileged_pod', 'BOOLEAN', PRIVILEGED_POD_SQL],
  ['auth_failed', 'BOOLEAN', AUTH_FAILED_SQL],
  ['event', 'VARCHAR', 'raw'],
]

/** What the first pass extracts: enough to reject malformed events and to find duplicates. */
export const KEY_STRUCT = JSON.stringify({
  auditID: 'VARCHAR', stage: 'VARCHAR', level: 'VARCHAR', verb: 'VARCHAR', requestURI: 'VARCHAR', user: { username: 'VARCHAR' },
  objectRef: { resource: 'VARCHAR' }, requestReceivedTimestamp: 'VARCHAR', stageTimestamp: 'VARCHAR',
})

/** What json_transform extracts (one parse per event; DuckDB's JSON reader is yyjson). */
export const EVENT_STRUCT = JSON.stringify({
  auditID: 'VARCHAR', stage: 'VARCHAR', level: 'VARCHAR', verb: 'VARCHAR', requestURI: 'VARCHAR',
  user: { username: 'VARCHAR', uid: 'VARCHAR', groups: ['VARCHAR'] },
  impersonatedUser: { username: 'VARCHAR', groups: ['VARCHAR'] },
  sourceIPs: ['VARCHAR'], userAgent: 'VARCHAR',
  objectRef: { apiGroup: 'VARCHAR', apiVersion: 'VARCHAR', resource: 'VARCHAR', subresource: 'VARCHAR', namespace: 'VARCHAR', name: 'VARCHAR', uid: 'VARCHAR' },
  responseStatus: { code: 'INTEGER', reason: 'VARCHAR', message: 'VARCHAR' },
  requestReceivedTimestamp: 'VARCHAR', stageTimestamp: 'VARCHAR', annotations: 'JSON',
})

const LEVELS_SQL = "('None','Metadata','Request','RequestResponse')"
const STAGES_SQL = "('RequestReceived','ResponseStarted','ResponseComplete','Panic')"

/** Why a row cannot be stored, decided in SQL; precise messages come from the schema check. */
export const PROBLEM_SQL = `CASE
  WHEN t IS NULL THEN 'invalid JSON'
  WHEN t.auditID IS NULL OR t.auditID = '' THEN 'missing field auditID'
  WHEN t.stage IS NULL OR t.stage NOT IN ${STAGES_SQL} THEN 'stage: not a stage'
  WHEN t.level IS NULL OR t.level NOT IN ${LEVELS_SQL} THEN 'level: not a level'
  WHEN t.verb IS NULL THEN 'missing field verb'
  WHEN t.requestURI IS NULL THEN 'missing field requestURI'
  WHEN t.user IS NULL THEN 'missing field user'
  WHEN ${TS('t.requestReceivedTimestamp')} IS NULL THEN 'requestReceivedTimestamp: not an RFC 3339 time'
  WHEN ${TS('t.stageTimestamp')} IS NULL THEN 'stageTimestamp: not an RFC 3339 time'
  ELSE NULL END`
