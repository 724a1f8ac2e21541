import { describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { invoke } from './program.js'
import { COMMAND_TABLE, commandsFor, loadCommands } from './commands/index.js'
import { renderError } from './render-error.js'
import { KubetrailError } from '../core/errors.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }

describe('kubetrail CLI', () => {
  it('--help lists every command with its one-line summary', async () => {
    const COMMANDS = await loadCommands()
    const groups = new Set(COMMANDS.map((c) => c.path[0]))
    const top = await invoke(['--help'], ctx)
    expect(top.exitCode).toBe(0)
    for (const g of groups) expect(top.printed).toContain(g)
    for (const g of groups) {
      const help = await invoke([g!, '--help'], ctx)
      expect(help.exitCode).toBe(0)
      for (const c of COMMANDS.filter((c) => c.path[0] === g)) {
        expect(help.printed).toContain(c.path[c.path.length - 1])
        expect(help.printed).toContain(c.summary.slice(0, 30))
      }
    }
  })

  it('--help lists each command once', async () => {
    const COMMANDS = await loadCommands()
    const top = (await invoke(['--help'], ctx)).printed
    for (const c of COMMANDS) {
      const name = c.path.join(' ')
      const listed = top.split('\n').filter((l) => new RegExp(`^  ${name.replace(/[-]/g, '\\-')}  `).test(l))
      expect(listed, name).toHaveLength(1)
    }
    // the groups are not listed a second time on their own
    expect(top).not.toMatch(/^ {2}policy {2,}audit policies/m)
    expect(top.match(/^ {2}query\b/gm)).toHaveLength(1)
  })

  it('every command has --help with at least one example', async () => {
    const COMMANDS = await loadCommands()
    expect(COMMANDS.length).toBeGreaterThanOrEqual(6)
    for (const c of COMMANDS) {
      const help = await invoke([...c.path, '--help'], ctx)
      expect(help.exitCode, c.path.join(' ')).toBe(0)
      expect(c.examples.length, c.path.join(' ')).toBeGreaterThan(0)
      expect(help.printed).toContain('Examples:')
      expect(help.printed).toContain(c.examples[0]!)
    }
  })

  it('the command table names each module by its own path, and an invocation loads only the commands it names', async () => {
    const loaded = await loadCommands()
    expect(loaded.map((c) => c.path.join(' '))).toEqual(COMMAND_TABLE.map((e) => e.path.join(' ')))
    expect(new Set(loaded).size).toBe(loaded.length)
    const paths = (argv: string[]) => commandsFor(argv).map((e) => e.path.join(' '))
    expect(paths(['policy', 'check', 'x.yaml', '--json'])).toEqual(['policy check'])
    expect(paths(['--debug', 'who', 'delete', 'deploy/x'])).toEqual(['who'])
    expect(paths(['policy', '--help'])).toEqual(COMMAND_TABLE.filter((e) => e.path[0] === 'policy').map((e) => e.path.join(' ')))
    expect(paths(['--version'])).toEqual([])
    expect(paths(['--help'])).toHaveLength(COMMAND_TABLE.length)
    expect(paths(['frobnicate'])).toHaveLength(COMMAND_TABLE.length)
    const version = await invoke(['--version'], ctx)
    expect(version).toMatchObject({ exitCode: 0, printed: expect.stringMatching(/^\d+\.\d+\.\d+/) })
  })

  it('an unknown command or option is a usage error (exit 2), not a crash', async () => {
    const unknown = await invoke(['policy', 'frobnicate'], ctx)
    expect(unknown.exitCode).toBe(2)
    expect(unknown.error).toBeInstanceOf(KubetrailError)
    const badOpt = await invoke(['policy', 'check', 'x.yaml', '--no-such-flag'], ctx)
    expect(badOpt.exitCode).toBe(2)
    expect(renderError(badOpt.error, false)).toMatch(/unknown option '--no-such-flag' \[KT_USAGE\]/)
  })

  it('serve checks its sizes before it starts anything', async () => {
    for (const [flag, value, message] of [
      ['--max-body', '12', /--max-body must be a number of bytes \(>= 1024\), not "12"/],
      ['--max-backlog', '64MB', /--max-backlog must be a number of bytes \(>= 1048576\), not "64MB"/],
      ['--max-backlog', '1000', /--max-backlog must be a number of bytes/],
    ] as const) {
      const r = await invoke(['serve', flag, value, '--data-dir', '/nonexistent/kubetrail'], ctx)
      expect(r.exitCode, `${flag} ${value}`).toBe(2)
      expect(renderError(r.error, false)).toMatch(message)
    }
  })

  it('prints errors without a stack trace unless --debug', () => {
    const err = new KubetrailError('KT_EXAMPLE', 'something is wrong', { hint: 'do this instead' })
    expect(renderError(err, false)).toBe('kubetrail: something is wrong [KT_EXAMPLE]\nhint: do this instead\n')
    expect(renderError(err, true)).toContain('at ')
    expect(renderError(new Error('boom'), false)).not.toContain('    at ')
  })
})
