/**
 * @module The command table: every `kubetrail` command, in the order `--help` lists them, each
 * loaded only when it is run (or when its help is asked for): a command's module and what it
 * imports (DuckDB, the HTTP server, the CEL compiler, TypeBox) cost the others nothing at start.
 * Adding a command = one module in this folder + one line here (a test holds the paths equal).
 */
import type { CommandDefinition } from '../command.js'

export interface CommandEntry {
  /** Words after `kubetrail`: the same as the module's `path`. */
  readonly path: readonly string[]
  load(): Promise<CommandDefinition<never>>
}

type Module = Record<string, unknown>

function entry(path: string[], importer: () => Promise<Module>, name = 'default'): CommandEntry {
  return { path, load: async () => (await importer())[name] as CommandDefinition<never> }
}

export const COMMAND_TABLE: readonly CommandEntry[] = [
  entry(['policy', 'check'], () => import('./policy-check.js')),
  entry(['policy', 'explain'], () => import('./policy-explain.js')),
  entry(['policy', 'lint'], () => import('./policy-lint.js')),
  entry(['policy', 'simulate'], () => import('./policy-simulate.js')),
  entry(['policy', 'diff'], () => import('./policy-diff.js')),
  entry(['policy', 'init'], () => import('./policy-init.js')),
  entry(['import'], () => import('./import.js')),
  entry(['query'], () => import('./query.js')),
  entry(['who'], () => import('./who.js')),
  entry(['history'], () => import('./history.js')),
  entry(['top'], () => import('./top.js')),
  entry(['sql'], () => import('./sql.js')),
  entry(['verify'], () => import('./verify.js')),
  entry(['prune'], () => import('./prune.js')),
  entry(['checkpoint', 'keygen'], () => import('./checkpoint.js'), 'checkpointKeygen'),
  entry(['checkpoint', 'export'], () => import('./checkpoint.js'), 'checkpointExport'),
  entry(['prove'], () => import('./prove.js')),
  entry(['verify-proof'], () => import('./verify-proof.js')),
  entry(['store', 'init'], () => import('./store.js'), 'storeInit'),
  entry(['store', 'status'], () => import('./store.js'), 'storeStatus'),
  entry(['store', 'compact'], () => import('./store.js'), 'storeCompact'),
  entry(['store', 'copy'], () => import('./store.js'), 'storeCopy'),
  entry(['serve'], () => import('./serve.js')),
  entry(['webhook-config'], () => import('./webhook-config.js')),
  entry(['replay'], () => import('./replay.js')),
  entry(['doctor'], () => import('./doctor.js')),
  entry(['enable'], () => import('./enable.js'), 'enableCommand'),
  entry(['disable'], () => import('./enable.js'), 'disableCommand'),
  entry(['rules', 'check'], () => import('./rules.js'), 'rulesCheck'),
  entry(['rules', 'coverage'], () => import('./rules.js'), 'rulesCoverage'),
  entry(['detect'], () => import('./detect.js')),
  entry(['alerts'], () => import('./alerts.js')),
  entry(['rbac', 'generate'], () => import('./rbac-generate.js')),
  entry(['rbac', 'unused'], () => import('./rbac-unused.js')),
  entry(['rbac', 'who-can'], () => import('./rbac-who-can.js')),
]

/** The definitions of `entries` (default: every command), in table order. */
export function loadCommands(entries: readonly CommandEntry[] = COMMAND_TABLE): Promise<Array<CommandDefinition<never>>> {
  return Promise.all(entries.map((e) => e.load()))
}

/**
 * The commands an invocation can need: those its leading words name (`policy check` → one,
 * `policy` → the group's), none for a bare `--version`, and every one otherwise (the overall
 * help, or an unknown word, which commander answers with a suggestion).
 */
export function commandsFor(argv: readonly string[]): readonly CommandEntry[] {
  const words: string[] = []
  for (const a of argv) {
    if (a.startsWith('-')) {
      if (words.length > 0) break
      continue
    }
    words.push(a)
  }
  if (words.length === 0) return argv.some((a) => a === '-V' || a === '--version') && !argv.some((a) => a === '-h' || a === '--help') ? [] : COMMAND_TABLE
  const matching = COMMAND_TABLE.filter((e) => e.path.every((p, i) => i >= words.length || words[i] === p))
  return matching.length > 0 ? matching : COMMAND_TABLE
}
