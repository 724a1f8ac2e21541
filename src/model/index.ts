export * from './audit.js'
export { checkAuditEvent, checkEventList, isAuditEvent, type FieldProblem } from './check.js'
