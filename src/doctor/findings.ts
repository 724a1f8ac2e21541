/**
 * @module What a doctor check reports: a status, the evidence it saw (file, line, value) and
 * the exact remediation.
 */
export const STATUSES = ['PASS', 'SKIP', 'WARN', 'FAIL'] as const
export type Status = (typeof STATUSES)[number]

export interface Evidence {
  file?: string
  line?: number
  value?: string
}

export interface Finding {
  /** Stable id, e.g. `flags.policy-file`. */
  id: string
  status: Status
  title: string
  evidence: Evidence[]
  /** What to do, exactly (empty when PASS). */
  fix?: string
  /** Benchmark references, e.g. `CIS 1.2.17`. */
  refs?: string[]
}

export const worst = (findings: readonly Finding[]): Status =>
  findings.reduce<Status>((w, f) => (STATUSES.indexOf(f.status) > STATUSES.indexOf(w) ? f.status : w), 'PASS')

/** 0 all passed (or skipped), 1 a warning, 2 a failure. */
export function exitCodeFor(findings: readonly Finding[]): number {
  const w = worst(findings)
  return w === 'FAIL' ? 2 : w === 'WARN' ? 1 : 0
}
