/**
 * @module Audit logs named on a command line (`import`, and the questions asked of files instead
 * of the store): directories expand to their audit logs, `*` patterns are matched, rotated files
 * come oldest first.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import type { ArgSpec, CommandContext, OptionSpec } from './command.js'
import { FileNotFoundError } from '../core/errors.js'
import { rotationOrder } from '../ingest/rotation.js'
import { logInput } from './log-input.js'
import type { AuditStore, StoreFlags } from '../store/index.js'

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
}

/** Files named on the command line: directories expand to their audit logs, `*` patterns are matched. */
export function expandInputs(args: readonly string[], cwd: string): string[] {
  const out: string[] = []
  for (const arg of args) {
    if (arg === '-') {
      out.push(arg)
      continue
    }
    const path = resolve(cwd, arg)
    if (/[*?]/.test(basename(arg))) {
      const dir = dirname(path)
      const re = globToRegExp(basename(arg))
      const matches = (existsSync(dir) ? readdirSync(dir) : []).filter((f) => re.test(f)).map((f) => join(dir, f))
      if (matches.length === 0) throw new FileNotFoundError(arg, 'no file matches')
      out.push(...rotationOrder(matches))
      continue
    }
    let st
    try {
      st = statSync(path)
    } catch {
      throw new FileNotFoundError(arg, 'audit log')
    }
    if (st.isDirectory()) {
      const logs = readdirSync(path).filter((f) => !f.startsWith('.') && /\.(log|json|ndjson|jsonl)(\.gz)?$|\.gz$/.test(f)).map((f) => join(path, f))
      out.push(...rotationOrder(logs))
    } else out.push(path)
  }
  return out
}

/** The optional arguments of a question that can be asked of log files instead of the store. */
export const LOGS_ARG: ArgSpec = {
  name: '[logs...]',
  description: 'audit logs (NDJSON, gzip, EventList, legacy), directories of rotated logs or quoted globs, read where they lie instead of the store; - for stdin',
}

export const NO_REDACT_OPTION: OptionSpec = {
  flags: '--no-redact',
  description: 'over log files: show Secret values as they are in the files (replaced by default, as import stores them)',
}

/**
 * The store (`--store`/`--data-dir`), or, when logs are named, those files read where they lie.
 * Malformed lines of the files land in `warnings` (the first few in full, then a count) once
 * `finish` is called, after the question.
 */
export async function openEventSource(logs: readonly string[], opts: StoreFlags & { redact?: boolean }, ctx: CommandContext, warnings: string[]): Promise<{ store: AuditStore; finish(): void }> {
  const { localDir, openLogFiles, openStore, resolveStore } = await import('../store/index.js')
  const location = resolveStore(opts, ctx.cwd)
  if (logs.length === 0) return { store: await openStore(location), finish: () => {} }
  const files = expandInputs(logs, ctx.cwd)
  const input = logInput(files, ctx)
  const { Redactor, readRedactionKey } = await import('../ingest/redact.js')
  // the local store's key when there is one, so a value shows the same marker as in the store
  const redactor = opts.redact === false ? undefined : new Redactor(readRedactionKey(localDir(location, opts, ctx.cwd)))
  const store = await openLogFiles(files, { redactor, stdin: ctx.stdin, onMalformed: input.report })
  return {
    store,
    finish: () => {
      input.finish()
      warnings.push(...input.warnings)
    },
  }
}
