#!/usr/bin/env node
/**
 * @module The `kubetrail` executable: runs one invocation and does all the printing, so the
 * commands themselves stay pure.
 */
import { SERVED_COMMANDS } from './served-commands.js'
import { cleanText, escapeForTerminal } from './terminal.js'

// On a terminal, what commands print cannot drive it: control characters left in machine
// output (raw C1 or bidi controls inside JSON strings) are written as \uXXXX escapes.
const toStdout = process.stdout.isTTY ? escapeForTerminal : (s: string) => s

async function writeOut(chunk: string): Promise<void> {
  if (!process.stdout.write(toStdout(chunk))) await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()))
}

/** Warnings and errors quote input (malformed lines, names): never raw control sequences. */
function writeErr(text: string): void {
  process.stderr.write(cleanText(text))
}

async function main(): Promise<number> {
  // the one answer that needs no command table and no argument parser (commander prints the same)
  if (process.argv.length === 3 && (process.argv[2] === '--version' || process.argv[2] === '-V')) {
    const { VERSION } = await import('../core/version.js')
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  // A closed pipe (`kubetrail ... | head`) is a normal way for output to end.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0)
  })
  const tty = Boolean(process.stderr.isTTY)
  let progressShown = false
  const progress = tty
    ? (line: string) => {
        process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 100) - 1).padEnd(Math.min(line.length + 8, (process.stderr.columns ?? 100) - 1))}`)
        progressShown = true
      }
    : undefined
  // Long-running commands (serve) stop cleanly on the first signal; a second one exits at once.
  const stop = new AbortController()
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      if (stop.signal.aborted) process.exit(130)
      stop.abort()
    })
  // read commands go to the running `kubetrail serve` of their store, when there is one
  if (SERVED_COMMANDS.has(process.argv[2] ?? '')) {
    const { runInServer } = await import('./query-socket.js')
    const served = await runInServer(process.argv.slice(2), process.cwd(), { out: writeOut, err: writeErr })
    if (served !== undefined) return served
  }
  // loaded only when the command runs here (a served command starts faster without them)
  const { invoke } = await import('./program.js')
  const { renderError } = await import('./render-error.js')
  const run = await invoke(process.argv.slice(2), { stdin: process.stdin, cwd: process.cwd(), isTTY: Boolean(process.stdout.isTTY), progress, signal: stop.signal })
  if (progressShown) process.stderr.write('\r\x1b[2K')
  if (run.printed) process.stdout.write(run.printed)
  if (run.error !== undefined) {
    writeErr(renderError(run.error, run.debug))
    return run.exitCode
  }
  const result = run.result
  if (!result) return run.exitCode
  try {
    const out = result.output
    if (typeof out === 'string') await writeOut(out.length === 0 || out.endsWith('\n') ? out : `${out}\n`)
    else if (out && Symbol.asyncIterator in out) for await (const chunk of out) await writeOut(chunk)
    else if (out) for (const chunk of out) await writeOut(chunk)
  } catch (error) {
    writeErr(renderError(error, run.debug))
    return error instanceof Error && 'exitCode' in error && typeof error.exitCode === 'number' ? error.exitCode : 1
  }
  // after the output: streamed commands add warnings (malformed lines) while producing it
  for (const w of result.warnings ?? []) writeErr(w.endsWith('\n') ? w : `${w}\n`)
  return result.exitCode ?? 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  async (error: unknown) => {
    const { renderError } = await import('./render-error.js')
    process.stderr.write(renderError(error, process.argv.includes('--debug')))
    process.exitCode = 1
  },
)
