/**
 * @module The store's flattened columns and how each is computed from an event in SQL (`t` is the
 * event parsed once by json_transform, `raw` its text), with the checks that reject a malformed
 * event. The enrichment columns restate functions of src/model and src/query; tests hold them equal.
 */
import { POD_SPEC_RESOURCES } from '../../model/index.js'
import { PRIVATE_IPV4_PREFIX } from './query-sql.js'

/** A SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

export const TS = (expr: string) =>
  `coalesce(try_strptime(${expr}, '%Y-%m-%dT%H:%M:%S.%fZ'), try_strptime(${expr}, '%Y-%m-%dT%H:%M:%SZ'))`

/** Who made the request (the collector's enrichment; `userKind` in src/model is the same rule). */
const USER_KIND_SQL = `CASE
  WHEN t.user.username IS NULL OR t.user.username = '' THEN 'unauthenticated'
  WHEN t.user.username = 'system:anonymous' THEN 'anonymous'
  WHEN starts_with(t.user.username, 'system:serviceaccount:') THEN 'serviceaccount'
  WHEN starts_with(t.user.username, 'system:node:') THEN 'node'
  WHEN starts_with(t.user.username, 'system:') THEN 'system'
  ELSE 'human' END`

/** An address outside private, loopback, link-local, CGNAT and unspecified ranges (`isExternalIP` in src/model). */
const EXTERNAL_IP_SQL = (ip: string) => {
  const v4 = `regexp_extract(lower(${ip}), '^(::ffff:)?([0-9]{1,3}(\\.[0-9]{1,3}){3})$', 2)`
  const private4 = `regexp_matches(${v4}, '${PRIVATE_IPV4_PREFIX}')`
  const valid4 = `regexp_matches(${v4}, '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$')`
  const v6 = `(contains(${ip}, ':') AND regexp_matches(lower(${ip}), '^[0-9a-f:.]+$'))`
  const private6 = `(lower(${ip}) IN ('::1', '::') OR regexp_matches(lower(${ip}), '^f[cd][0-9a-f]{0,2}:|^fe[89ab][0-9a-f]:'))`
  return `(CASE WHEN ${v4} <> '' THEN ${valid4} AND NOT ${private4} ELSE ${v6} AND NOT ${private6} END)`
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
