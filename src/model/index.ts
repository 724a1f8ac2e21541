export * from './audit.js'
export { checkAuditEvent, checkEventList, isAuditEvent, type FieldProblem } from './check.js'
export { parseRequestInfo, type RequestInfo } from './request-info.js'
export { goJson } from './go-json.js'
