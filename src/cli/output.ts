/**
 * @module The one output interface of the CLI: `-o table|wide|json|yaml|ndjson` (and `--json`)
 * for every command that prints results, one table renderer, and the sanitising of text that
 * came from audit events before it reaches a terminal.
 *
 * A command opts in by declaring `output: { schema }` in its definition (see command.ts): the
 * program then adds the shared options, and the handler returns a `report` (its JSON document
 * and a text renderer) instead of printed text; rendering in the chosen format happens here.
 * Commands that stream (query, explain --requests) call `renderRecords` themselves.
 * The JSON shape of each command is documented in docs/output.md and checked against its
 * schema by the CLI contract test (src/cli/output-contract.test.ts).
 */
import { stringify as yamlStringify } from 'yaml'
import type { OptionSpec } from './command.js'
import { UsageError } from '../core/errors.js'
import { cleanCell } from './terminal.js'
export { cleanCell, cleanText, escapeForTerminal, REPLACEMENT } from './terminal.js'

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml', 'ndjson'] as const
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]

/** Formats for programs: exact values, never reworded; everything else is for people. */
export function isMachineFormat(format: string): boolean {
  return format === 'json' || format === 'yaml' || format === 'ndjson' || format === 'csv'
}

/** The options every result-printing command takes (added by the program from `output`). */
export const OUTPUT_OPTIONS: readonly OptionSpec[] = [
  { flags: '-o, --output <format>', description: `output format: ${OUTPUT_FORMATS.join('|')} (default: table; JSON shapes: docs/output.md)` },
  { flags: '--json', description: 'the same as -o json' },
]

export interface OutputOptions {
  output?: string
  json?: boolean
}

/**
 * The format asked for. `aliases` maps a command's former format names (e.g. simulate's
 * `summary`) to the shared ones, so old command lines keep working.
 */
export function outputFormat(o: OutputOptions, aliases: Readonly<Record<string, OutputFormat>> = {}, extra: readonly string[] = [], fallback: OutputFormat = 'table'): OutputFormat {
  if (o.json) {
    if (o.output !== undefined && o.output !== 'json') throw new UsageError(`--json and -o ${o.output} contradict each other`, '--json is the same as -o json; give one of them.')
    return 'json'
  }
  const asked = o.output ?? fallback
  const format = aliases[asked] ?? asked
  // a command's own extra formats (query's csv) pass through as they are
  if (extra.includes(format)) return format as OutputFormat
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format))
    throw new UsageError(`-o ${asked}: not an output format`, `Use one of ${OUTPUT_FORMATS.join(', ')}. To write a file, redirect the output (> file) or use the command's --file option.`)
  return format as OutputFormat
}

// ---------------------------------------------------------------------------------------------
// Tables

export interface Column {
  header: string
  /** Numbers are right-aligned, header included; everything else is left-aligned. */
  align?: 'left' | 'right'
}

export interface TableOptions {
  /** Prefix of every line (a table inside a report section). */
  indent?: string
}

/** Width in terminal cells, for the characters we print (wide East Asian characters count 2). */
function cellWidth(text: string): number {
  let w = 0
  for (const ch of text) {
    const cp = ch.codePointAt(0)!
    w += (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0x1f300 && cp <= 0x1faff) ? 2 : 1
  }
  return w
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - cellWidth(text)))
  return align === 'right' ? fill + text : text + fill
}

/**
 * The table renderer every command uses: a header line and aligned columns separated by two
 * spaces (kubectl's layout), every cell sanitised, no trailing spaces.
 */
export function renderTable(columns: readonly (string | Column)[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { header: c } : c))
  const cells = rows.map((r) => cols.map((_, i) => cleanCell(r[i] ?? '')))
  const widths = cols.map((c, i) => Math.max(cellWidth(c.header), ...cells.map((r) => cellWidth(r[i]!))))
  const indent = options.indent ?? ''
  const line = (values: readonly string[]) =>
    indent +
    values
      .map((v, i) => pad(v, widths[i]!, cols[i]!.align ?? 'left'))
      .join('  ')
      .trimEnd()
  return [line(cols.map((c) => c.header)), ...cells.map(line)].join('\n')
}

// ---------------------------------------------------------------------------------------------
// Rendering a command's result

/** What a command returns when it declares `output`: its document and its text rendering. */
export interface Report {
  /** The JSON document of -o json / yaml (its schema is the command's `output.schema`). */
  data: unknown
  /** Human output; `wide` adds columns where a command has more to show. */
  text: (wide: boolean) => string
}

/** JSON text with a trailing newline (2-space indented: diffable, greppable). */
export function jsonDocument(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n'
}

export function yamlDocument(value: unknown): string {
  return yamlStringify(value, { lineWidth: 0 })
}

/**
 * ndjson: an array document is printed one element per line, anything else as one line.
 */
export function ndjsonLines(value: unknown): string {
  const records = Array.isArray(value) ? value : [value]
  return records.map((r) => JSON.stringify(r) + '\n').join('')
}

export function renderReport(format: OutputFormat, report: Report): string {
  switch (format) {
    case 'json':
      return jsonDocument(report.data)
    case 'yaml':
      return yamlDocument(report.data)
    case 'ndjson':
      return ndjsonLines(report.data)
    default: {
      const text = report.text(format === 'wide')
      return text.length === 0 || text.endsWith('\n') ? text : `${text}\n`
    }
  }
}

/** How a stream of records is shown: table columns, and each record's JSON text. */
export interface RecordView<T> {
  columns: readonly (string | Column)[]
  /** Extra columns for -o wide. */
  wideColumns?: readonly (string | Column)[]
  row: (record: T, wide: boolean) => string[]
  /** The record's JSON text (default JSON.stringify): e.g. an event exactly as stored. */
  json?: (record: T) => string
  /** The JSON value for YAML (default: the record itself). */
  value?: (record: T) => unknown
  /** Printed instead of an empty table. */
  empty: string
  /** Printed after the table (counts, "showing 100 of N"), known once every record was seen. */
  footer?: () => string | undefined
}

/**
 * Streams records in any format: json as one array, yaml as one list, ndjson a line each (none
 * of these is held in memory), tables once every row is known (the widths need them all).
 */
export async function* renderRecords<T>(format: OutputFormat, records: AsyncIterable<T> | Iterable<T>, view: RecordView<T>): AsyncGenerator<string> {
  const jsonOf = view.json ?? ((r: T) => JSON.stringify(r))
  if (format === 'ndjson') {
    for await (const r of records) yield jsonOf(r) + '\n'
    return
  }
  if (format === 'json') {
    let first = true
    for await (const r of records) {
      yield (first ? '[\n' : ',\n') + jsonOf(r)
      first = false
    }
    yield first ? '[]\n' : '\n]\n'
    return
  }
  if (format === 'yaml') {
    let any = false
    for await (const r of records) {
      any = true
      yield yamlDocument([view.value ? view.value(r) : r])
    }
    if (!any) yield '[]\n'
    return
  }
  const wide = format === 'wide'
  const rows: string[][] = []
  for await (const r of records) rows.push(view.row(r, wide))
  const footer = view.footer?.()
  if (rows.length === 0) {
    yield view.empty.endsWith('\n') ? view.empty : `${view.empty}\n`
    if (footer) yield `${footer}\n`
    return
  }
  yield renderTable(wide ? [...view.columns, ...(view.wideColumns ?? [])] : view.columns, rows) + '\n'
  if (footer) yield `${footer}\n`
}
