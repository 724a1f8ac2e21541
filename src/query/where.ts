/**
 * @module `--where`: a CEL expression over the event (the language Kubernetes itself uses for
 * validation rules), e.g. `objectRef.resource == "secrets" && user.username.startsWith("system:serviceaccount:")`.
 */
import { KubetrailError } from '../core/errors.js'
import type { AuditEvent } from '../model/index.js'

export class WhereInvalidError extends KubetrailError {
  constructor(expression: string, detail: string) {
    super('KT_WHERE_INVALID', `--where is not a valid CEL expression:\n${detail}`, {
      exitCode: 2,
      hint: 'Fields are those of the audit event: verb, user.username, objectRef.resource, responseStatus.code, sourceIPs, … e.g. --where \'verb == "delete" && objectRef.namespace == "prod"\'',
    })
    void expression
  }
}

/**
 * Compiles once; the returned test is false for events lacking a field the expression reads.
 * The CEL library is loaded on first use: queries without --where start without it.
 */
export async function compileWhere(expression: string): Promise<(e: AuditEvent) => boolean> {
  const { parse } = await import('@marcbachmann/cel-js')
  let program: (ctx: Record<string, unknown>) => unknown
  try {
    program = parse(expression) as unknown as (ctx: Record<string, unknown>) => unknown
  } catch (error) {
    throw new WhereInvalidError(expression, (error as Error).message)
  }
  return (e) => {
    try {
      return program(e as unknown as Record<string, unknown>) === true
    } catch {
      return false // e.g. "no such key": the event does not have what the expression asks about
    }
  }
}
