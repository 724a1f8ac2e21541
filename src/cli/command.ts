/**
 * @module The contract every CLI command fulfils (after pnpm's CommandDefinition): a
 * declarative description (name, arguments, options, examples) and a handler that *returns*
 * its result instead of printing it, so commands are tested by calling them.
 */
import type { Readable } from 'node:stream'
import type { TSchema } from '@sinclair/typebox'
import type { Report } from './output.js'

export interface OptionSpec {
  /** Commander flag syntax, e.g. `--verb <verb>`, `-n, --namespace <ns>`, `--json`. */
  flags: string
  description: string
  default?: string | boolean | string[]
  /** The option may be given several times; the handler receives a string[]. */
  repeatable?: boolean
  choices?: readonly string[]
  /** Accepted but not listed in --help (a flag kept only to explain its replacement). */
  hidden?: boolean
}

export interface ArgSpec {
  /** Commander argument syntax: `<policy>`, `[log...]`. Variadic values reach the handler flattened, in order. */
  name: string
  description: string
}

export interface CommandContext {
  /** Standard input, for `-` arguments. */
  stdin: Readable
  /** Current directory, for resolving relative paths. */
  cwd: string
  /** True when standard output is a terminal (a person reads it: serve's alert summaries). */
  isTTY: boolean
  /** Shows a transient progress line on stderr (when it is a terminal); absent in tests and pipes. */
  progress?: (line: string) => void
  /** Aborted when the user asks a long-running command to stop (SIGINT, SIGTERM). */
  signal?: AbortSignal
}

/**
 * What a command produces. `output` is printed as is; an iterable is streamed chunk by chunk
 * (large NDJSON outputs never sit in memory). `warnings` go to stderr.
 */
export interface CommandResult {
  output?: string | AsyncIterable<string> | Iterable<string>
  /** Commands that declare `output`: the result, rendered in the format asked for (-o). */
  report?: Report
  warnings?: string[]
  exitCode?: number
}

export interface CommandDefinition<Opts = Record<string, unknown>> {
  /** Words after `kubetrail`, e.g. `['policy', 'check']`. */
  path: readonly string[]
  summary: string
  /** Longer help text shown by `--help` before the examples. */
  description?: string
  args: readonly ArgSpec[]
  options: readonly OptionSpec[]
  examples: readonly string[]
  /**
   * A command that prints results declares its JSON shape here: it then takes the shared
   * `-o table|wide|json|yaml|ndjson` and `--json` options (src/cli/output.ts), and its JSON is
   * checked against this schema by the CLI contract test. Document the shape in docs/output.md.
   */
  output?: OutputSpec
  handler(args: string[], opts: Opts, ctx: CommandContext): Promise<CommandResult>
}

export interface OutputSpec {
  /** The JSON document of -o json (TypeBox: a JSON Schema and a type). */
  schema: TSchema
  /** Former format names still accepted, e.g. `{ summary: 'table' }`. */
  aliases?: Readonly<Record<string, 'table' | 'wide' | 'json' | 'yaml' | 'ndjson'>>
  /** Formats of this command only, besides the shared five (query's csv). */
  extraFormats?: readonly string[]
  /** The format without -o, when it depends on the other options (explain --requests: ndjson). */
  defaultFormat?: (opts: Record<string, unknown>) => 'table' | 'wide' | 'json' | 'yaml' | 'ndjson'
  /** What -o ndjson prints when it is not the document's elements, one per line (e.g. simulate's replayed events). */
  ndjson?: string
}

/** Lets each command module keep its own option type while the registry holds them all. */
export function defineCommand<Opts>(def: CommandDefinition<Opts>): CommandDefinition<Opts> {
  return def
}

/** Shared option: the Kubernetes release whose apiserver behaviour to reproduce. */
export const KUBERNETES_VERSION_OPTION: OptionSpec = {
  flags: '--kubernetes-version <version>',
  description: 'behave like this kube-apiserver release (e.g. 1.29); default: the newest',
}

/** Shared option: where the store lives. */
export const DATA_DIR_OPTION: OptionSpec = {
  flags: '--data-dir <dir>',
  description: 'store directory (default: $KUBETRAIL_DATA_DIR, else ./kubetrail-data)',
}

/** Shared options of every command that opens a store: which store, and the ClickHouse password. */
export const STORE_OPTIONS: readonly OptionSpec[] = [
  {
    flags: '--store <url>',
    description: 'the store: duckdb:DIR (the embedded store, default: the data directory) or clickhouse://[user@]host[:port][/database][?cluster=NAME&secure=1] (default: $KUBETRAIL_STORE)',
  },
  { flags: '--data-dir <dir>', description: 'the embedded store\'s directory, and local files (default: $KUBETRAIL_DATA_DIR, else ./kubetrail-data)' },
  { flags: '--clickhouse-password-file <file>', description: 'the ClickHouse password, from this file (default: $KUBETRAIL_CLICKHOUSE_PASSWORD; never in the URL)' },
]

export async function collectOutput(result: CommandResult): Promise<string> {
  const out = result.output
  if (out === undefined) return ''
  if (typeof out === 'string') return out
  let text = ''
  if (Symbol.asyncIterator in out) {
    for await (const chunk of out) text += chunk
  } else {
    for (const chunk of out) text += chunk
  }
  return text
}
