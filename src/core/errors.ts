/**
 * @module Errors users can act on. Every failure kubetrail reports on purpose is a
 * `KubetrailError` with a stable `code` (part of the CLI contract, like pnpm's ERR_PNPM_*),
 * a message, and a hint. The CLI prints these without a stack trace unless `--debug`.
 */

export interface ErrorOptions {
  hint?: string
  cause?: unknown
  /** Process exit code when this error ends a command. */
  exitCode?: number
}

export class KubetrailError extends Error {
  readonly code: string
  readonly hint: string | undefined
  readonly exitCode: number

  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.hint = options.hint
    this.exitCode = options.exitCode ?? 1
  }
}

/** Where in a user's file something is wrong. Lines and columns are 1-based. */
export interface SourcePosition {
  file: string
  line?: number
  column?: number
}

export function formatPosition(pos: SourcePosition): string {
  if (pos.line === undefined) return pos.file
  return pos.column === undefined ? `${pos.file}:${pos.line}` : `${pos.file}:${pos.line}:${pos.column}`
}

/** Wrong flags or arguments on the command line. Exit code 2, as getopt-style tools do. */
export class UsageError extends KubetrailError {
  constructor(message: string, hint?: string) {
    super('KT_USAGE', message, { hint: hint ?? 'Run the command with --help for its options and examples.', exitCode: 2 })
  }
}

export class FileNotFoundError extends KubetrailError {
  readonly path: string
  constructor(path: string, what = 'file') {
    super('KT_FILE_NOT_FOUND', `${what} not found: ${path}`, { hint: 'Check the path; relative paths are resolved from the current directory.' })
    this.path = path
  }
}

export class FileReadError extends KubetrailError {
  constructor(path: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super('KT_FILE_UNREADABLE', `cannot read ${path}: ${reason}`, { cause, hint: 'Check that the file exists and that you may read it.' })
  }
}

/** One problem found in a user's input file, with its position. */
export interface InputIssue extends SourcePosition {
  /** Dotted field path when known, e.g. `rules[2].level`. */
  field?: string
  message: string
}

export function formatIssue(issue: InputIssue): string {
  const where = formatPosition(issue)
  return issue.field ? `${where}: ${issue.field}: ${issue.message}` : `${where}: ${issue.message}`
}

/** A file that could not be used at all (every issue is listed). */
export class InputInvalidError extends KubetrailError {
  readonly issues: InputIssue[]
  constructor(code: string, summary: string, issues: InputIssue[], hint?: string) {
    super(code, `${summary}\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`, { hint })
    this.issues = issues
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
