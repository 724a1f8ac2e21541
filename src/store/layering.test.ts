/**
 * The store sits below query, detection, the collector and the CLI, and its engines stay in
 * their folders: checked on the import statements of every source file.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../../test/support/fixtures.js'

const SRC = resolve(REPO_ROOT, 'src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []))
}

/** Every module a file imports (static and dynamic), resolved to a path under src/ or a package name. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!)
  return specs.map((s) => (s.startsWith('.') ? relative(SRC, resolve(file, '..', s)) : s))
}

describe('layering', () => {
  it('src/store imports nothing from the layers above it', () => {
    const above = /^(query|detect|doctor|collector|cli|ui|api|policy)\//
    const offenders = sourceFiles(join(SRC, 'store')).flatMap((f) => importsOf(f).filter((i) => above.test(i)).map((i) => `${relative(SRC, f)} → ${i}`))
    expect(offenders).toEqual([])
  })

  it('nothing outside an engine\'s folder imports the engine or its client library', () => {
    const engines = [
      { folder: 'store/duckdb/', packages: /^@duckdb\// },
      { folder: 'store/clickhouse/', packages: /^@clickhouse\/|^chdb/ },
    ]
    const offenders: string[] = []
    for (const f of sourceFiles(SRC)) {
      const path = relative(SRC, f)
      for (const e of engines) {
        if (path.startsWith(e.folder)) continue
        for (const i of importsOf(f)) {
          // the store's index chooses the implementation; tests of the suite open it directly
          const viaIndex = path === 'store/index.ts' && i.startsWith(e.folder)
          if ((i.startsWith(e.folder) && !viaIndex) || e.packages.test(i)) offenders.push(`${path} → ${i}`)
        }
      }
    }
    expect(offenders).toEqual([])
  })
})
