/**
 * @module How errors reach the user: code, message and hint for the errors we raise on
 * purpose; a short "internal error" line (stack only with --debug) for everything else.
 */
import { KubetrailError, errorMessage } from '../core/errors.js'

export function renderError(err: unknown, debug: boolean): string {
  if (err instanceof KubetrailError) {
    let text = `kubetrail: ${err.message} [${err.code}]\n`
    if (err.hint) text += `hint: ${err.hint}\n`
    if (debug && err.stack) text += `${err.stack}\n`
    return text
  }
  let text = `kubetrail: internal error: ${errorMessage(err)} [KT_INTERNAL]\n`
  text += debug && err instanceof Error && err.stack ? `${err.stack}\n` : 'hint: run again with --debug for a stack trace, and report it.\n'
  return text
}
