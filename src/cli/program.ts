/**
 * @module Builds the commander program from the command table and runs one invocation.
 * Kept apart from `main.ts` so tests can run the real CLI parsing in-process.
 */
import { Command, CommanderError, Option } from 'commander'
import type { CommandContext, CommandDefinition, CommandResult } from './command.js'
import { commandsFor, loadCommands } from './commands/index.js'
import { KubetrailError, UsageError } from '../core/errors.js'
import { VERSION } from '../core/version.js'
import { cleanText, isMachineFormat, OUTPUT_OPTIONS, outputFormat, renderReport, type OutputFormat } from './output.js'

export interface Invocation {
  result?: CommandResult
  /** Text commander printed itself (help, version, usage errors). */
  printed: string
  error?: unknown
  exitCode: number
  debug: boolean
}

function collect(value: string, previous: string[] | undefined): string[] {
  return previous ? [...previous, value] : [value]
}

function renderExamples(def: CommandDefinition<unknown>): string {
  if (def.examples.length === 0) return ''
  return `\nExamples:\n${def.examples.map((e) => `  $ ${e}`).join('\n')}\n`
}

const GROUP_SUMMARIES: Record<string, string> = {
  policy: 'audit policies: check, explain, lint, simulate, diff, init',
  rules: 'detection rules: check, coverage',
  rbac: 'least privilege from the trail: generate, unused, who-can',
}

function commandList(commands: readonly CommandDefinition<unknown>[]): string {
  const names = commands.map((c) => c.path.join(' '))
  const width = Math.max(...names.map((n) => n.length))
  return commands.map((c, i) => `  ${names[i]!.padEnd(width)}  ${c.summary}`).join('\n')
}

function findOrCreateGroup(parent: Command, name: string): Command {
  const existing = parent.commands.find((c) => c.name() === name)
  if (existing) return existing
  return parent.command(name)
}

export function buildProgram(
  ctx: CommandContext,
  onResult: (r: CommandResult) => void,
  write: (s: string) => void,
  commands: readonly CommandDefinition<unknown>[],
): Command {
  const program = new Command('kubetrail')
  program
    .description('Who did what, when, and from where: Kubernetes API-server audit policies and logs.')
    .version(VERSION)
    .option('--debug', 'print stack traces for errors')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: write, writeErr: write })
    .exitOverride()

  program.addHelpText('after', `\nCommands:\n${commandList(commands)}\n\nRun 'kubetrail <command> --help' for a command's options and examples.\n`)
  for (const def of commands) {
    const groups = def.path.slice(0, -1)
    let parent = program
    for (const g of groups) {
      parent = findOrCreateGroup(parent, g)
      parent.exitOverride().configureOutput({ writeOut: write, writeErr: write })
      if (!parent.description()) parent.description(GROUP_SUMMARIES[g] ?? `${g} commands`)
    }
    const leaf = parent.command(def.path[def.path.length - 1]!)
    leaf.summary(def.summary).description(def.description ? `${def.summary}\n\n${def.description}` : def.summary)
    for (const a of def.args) leaf.argument(a.name, a.description)
    for (const o of def.output ? [...def.options, ...OUTPUT_OPTIONS] : def.options) {
      const opt = new Option(o.flags, o.description)
      if (o.choices) opt.choices(o.choices)
      if (o.repeatable) opt.argParser(collect)
      if (o.default !== undefined) opt.default(o.default)
      if (o.hidden) opt.hideHelp()
      leaf.addOption(opt)
    }
    leaf.addHelpText('after', renderExamples(def))
    leaf.exitOverride().configureOutput({ writeOut: write, writeErr: write })
    leaf.action(async (...params: unknown[]) => {
      // commander passes: ...positional args, options, the Command itself
      const cmd = params[params.length - 1] as Command
      const opts = cmd.opts()
      const positional = params.slice(0, -2).flatMap((p) => (p === undefined ? [] : Array.isArray(p) ? p : [p])) as string[]
      // handlers see the resolved format (--json folded into -o json, aliases mapped)
      const format = def.output ? outputFormat(opts, def.output.aliases, def.output.extraFormats, def.output.defaultFormat?.(opts)) : undefined
      if (format) opts['output'] = format
      onResult(finish(await def.handler(positional, opts as never, ctx), format))
    })
  }
  // commander's own list would show the groups and commands a second time (set last: the
  // sub-commands, which copy their parent's settings when created, keep theirs)
  program.configureHelp({ visibleCommands: () => [] })
  return program
}

/**
 * Renders a report in the format asked for, and sanitises human output: text built from audit
 * events reaches the terminal without its escape sequences (machine formats keep the exact
 * values; `main` escapes what is left when writing to a terminal).
 */
function finish(result: CommandResult, format: OutputFormat | undefined): CommandResult {
  if (result.report) result.output = renderReport(format ?? 'table', result.report)
  if (format !== undefined && isMachineFormat(format)) return result
  const out = result.output
  if (typeof out === 'string') result.output = cleanText(out)
  else if (out) result.output = cleanChunks(out)
  return result
}

async function* cleanChunks(chunks: AsyncIterable<string> | Iterable<string>): AsyncGenerator<string> {
  for await (const chunk of chunks) yield cleanText(chunk)
}

/** Runs `kubetrail <argv...>` and returns what happened; never exits the process. */
export async function invoke(argv: readonly string[], ctx: CommandContext): Promise<Invocation> {
  let printed = ''
  let result: CommandResult | undefined
  // only the modules of the commands this invocation names are loaded
  const commands = (await loadCommands(commandsFor(argv))) as CommandDefinition<unknown>[]
  const program = buildProgram(ctx, (r) => (result = r), (s) => (printed += s), commands)
  const debug = argv.includes('--debug')
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return { result, printed, exitCode: result?.exitCode ?? 0, debug }
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version are "errors" in commander's exitOverride model
      if (error.exitCode === 0) return { printed, exitCode: 0, debug }
      const usage = new UsageError(error.message.replace(/^error: /, ''))
      return { printed: '', error: usage, exitCode: usage.exitCode, debug }
    }
    const exitCode = error instanceof KubetrailError ? error.exitCode : 1
    return { printed, error, exitCode, debug }
  }
}
