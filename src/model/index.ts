export * from './audit.js'
// The compiled checks (checkAuditEvent, checkEventList, isAuditEvent) are the second entry point,
// `model/check.js`: they load TypeBox, which commands that never check an event do without.
export type { FieldProblem } from './check.js'
export { parseRequestInfo, type RequestInfo } from './request-info.js'
export { goJson } from './go-json.js'
export { builtinGroupsOf, parseResourceName, type ResourceName } from './resources.js'
export { carriesPodSpec, isExternalIP, podSpecOf, POD_SPEC_RESOURCES, privilegedReasons, tokenReviewFailed, userKind, USER_KINDS, type UserKind } from './enrich.js'
export { AUDIT_TIME_PATTERN, auditTimeMicros, isAuditTime } from './audit-time.js'
