/**
 * @module Reading audit logs: every format the apiserver writes, streamed in batches, with
 * malformed lines reported and skipped.
 */
export { describeProblem, readRawEvents, readAuditLog, readAuditLogs, readAuditLogAll, formatMalformed, type MalformedLine, type ReadOptions } from './reader.js'
export { AuditRecord, type BodyField, type RawEvent } from './record.js'
export { parseLegacyLine, toMicroTime } from './legacy.js'
export { EVENT_LIST_PREFIX, isSplittable, openByteSource, sniffLogFile, splitIntoLineRanges, splitLines, MAX_LINE_BYTES, type ByteRange, type LogFileShape } from './source.js'
export { rotationOrder } from './rotation.js'
export { Redactor, REDACTED_PREFIX, redactionKey, mayHoldSecrets } from './redact.js'
export { annotate, BODIES_OMITTED_ANNOTATION, escapesSurrogate, OMITTED_BODY, SANITIZED_ANNOTATION, sanitizeEvent, sanitizeText } from './sanitize.js'
