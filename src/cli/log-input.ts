/**
 * @module Audit logs named on a command line, read for a command: malformed lines become
 * warnings (`file:line: reason`, the first few in full) and a count for the exit code.
 */
import type { CommandContext } from './command.js'
import { formatMalformed, readAuditLogs, type AuditRecord, type MalformedLine } from '../ingest/index.js'

const SHOWN_MALFORMED = 20

export interface LogInput {
  batches(mode: 'head' | 'full'): AsyncGenerator<AuditRecord[]>
  /** Filled while reading; complete once `batches` is exhausted. */
  readonly warnings: string[]
  malformedCount(): number
}

export function logInput(paths: readonly string[], ctx: CommandContext): LogInput {
  const warnings: string[] = []
  let malformed = 0
  const onMalformed = (m: MalformedLine) => {
    malformed++
    if (malformed <= SHOWN_MALFORMED) warnings.push(`malformed: ${formatMalformed(m)}`)
    else if (malformed === SHOWN_MALFORMED + 1) warnings.push('malformed: … (more malformed lines; the total is given at the end)')
  }
  return {
    warnings,
    malformedCount: () => malformed,
    async *batches(mode) {
      yield* readAuditLogs(paths, { mode, stdin: ctx.stdin, onMalformed })
      if (malformed > 0) warnings.push(`${malformed} malformed line(s) skipped; every other event was read`)
    },
  }
}
