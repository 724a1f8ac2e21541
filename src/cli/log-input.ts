/**
 * @module Audit logs named on a command line, read for a command: malformed lines become
 * warnings (`file:line: reason`, the first few in full) and a count for the exit code.
 */
import type { CommandContext } from './command.js'
import { formatMalformed, readAuditLogs, type AuditRecord, type MalformedLine } from '../ingest/index.js'

const SHOWN_MALFORMED = 20

export interface LogInput {
  readonly paths: readonly string[]
  /** Reads `paths` (default: all of them). */
  batches(mode: 'head' | 'full', paths?: readonly string[]): AsyncGenerator<AuditRecord[]>
  /** For lines read elsewhere (worker threads). */
  report(m: MalformedLine): void
  /** Filled while reading; complete once `batches` is exhausted (or `finish` called). */
  readonly warnings: string[]
  malformedCount(): number
  /** Adds the closing count of malformed lines; `batches` over all paths calls it itself. */
  finish(): void
}

export function logInput(paths: readonly string[], ctx: CommandContext): LogInput {
  const warnings: string[] = []
  let malformed = 0
  let finished = false
  const report = (m: MalformedLine) => {
    malformed++
    if (malformed <= SHOWN_MALFORMED) warnings.push(`malformed: ${formatMalformed(m)}`)
    else if (malformed === SHOWN_MALFORMED + 1) warnings.push('malformed: … (more malformed lines; the total is given at the end)')
  }
  const finish = () => {
    if (!finished && malformed > 0) warnings.push(`${malformed} malformed line(s) skipped; every other event was read`)
    finished = true
  }
  return {
    paths,
    warnings,
    report,
    finish,
    malformedCount: () => malformed,
    async *batches(mode, subset) {
      yield* readAuditLogs(subset ?? paths, { mode, stdin: ctx.stdin, onMalformed: report })
      if (!subset) finish()
    },
  }
}
