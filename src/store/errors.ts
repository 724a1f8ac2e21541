/**
 * @module The store's own errors, shared by every implementation (DuckDB segments, ClickHouse):
 * their codes are part of the CLI contract.
 */
import { KubetrailError } from '../core/errors.js'

/** A `kubetrail sql` statement that is not exactly one read-only query, or that reaches outside the events. */
export class SqlNotReadOnlyError extends KubetrailError {
  constructor(reason: string) {
    super('KT_SQL_NOT_READ_ONLY', `kubetrail sql runs exactly one read-only query over \`events\`: ${reason}`, {
      hint: 'Write one SELECT (or WITH … SELECT, FROM …, VALUES, DESCRIBE, SUMMARIZE, SHOW) over the `events` view; nothing that writes, attaches, loads, configures or reads other files is run.',
    })
  }
}

/** Stored data that does not match what its chain link committed: a rewrite must not launder it. */
export class StoreTamperedError extends KubetrailError {
  constructor(
    readonly operation: string,
    readonly problems: ReadonlyArray<{ seq: number; problem: string }>,
  ) {
    super('KT_STORE_TAMPERED', `${operation} refused: ${problems.map((p) => `batch ${p.seq} ${p.problem}`).join('; ')}`, {
      hint: 'Stored events no longer match the chain: someone changed the data directory. Nothing was rewritten; keep a copy of the data directory as evidence and run `kubetrail verify`.',
    })
  }
}
