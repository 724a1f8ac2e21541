/**
 * The CLI output contract: every command that prints results takes every `-o` format (and
 * `--json`), its JSON matches the schema it declares (documented in docs/output.md), YAML and
 * ndjson carry the same values, and the tables are aligned and free of terminal control
 * sequences, whatever the events say.
 */
import { createServer } from 'node:http'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Value } from '@sinclair/typebox/value'
import type { TSchema } from '@sinclair/typebox'
import { parse as parseYaml } from 'yaml'
import { collectOutput, type CommandDefinition } from './command.js'
import { loadCommands } from './commands/index.js'
import { invoke } from './program.js'
import { renderError } from './render-error.js'
import { OUTPUT_FORMATS, renderTable, escapeForTerminal } from './output.js'
import { FIXTURES_DIR, REPO_ROOT, requireFixture } from '../../test/support/fixtures.js'
import { kubeadmNode } from '../../test/support/node-tree.js'
import { alertId, type Alert } from '../detect/index.js'

// every command's definition (the CLI itself loads only the one it runs)
const COMMANDS = await loadCommands()

/** Commands that print no results of their own, and what they print instead. */
const NO_RESULT_OUTPUT: Record<string, string> = {
  serve: 'a log stream (--log-format text|json)',
  'webhook-config': 'a kubeconfig file for the apiserver',
  'policy init': 'an audit policy file (--file writes it)',
  completion: 'a shell script',
  'checkpoint export': 'a signed checkpoint (a signed note, docs/integrity.md)',
  prove: 'a proof document (JSON) for verify-proof',
}

const LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))
const POLICY = resolve(REPO_ROOT, 'examples/policies/low-write.yaml')
const POLICY2 = resolve(REPO_ROOT, 'examples/policies/comprehensive.yaml')
const work = mkdtempSync(join(tmpdir(), 'kubetrail-contract-'))
const store = join(work, 'data')
const smallLog = join(work, 'small.log')
const requests = join(work, 'requests.ndjson')
const proofFile = join(work, 'proof.json')
let replayUrl = ''
const server = createServer((req, res) => {
  let body = ''
  req.on('data', (c: Buffer) => (body += c.toString()))
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: (JSON.parse(body) as { items: unknown[] }).items.length })))
})

async function run(argv: string[], cwd = work) {
  const r = await invoke(argv, { stdin: new PassThrough(), cwd, isTTY: false })
  const out = r.result ? await collectOutput(r.result) : r.printed
  return { out, err: r.error ? renderError(r.error, false) : '', code: r.error ? r.exitCode : (r.result?.exitCode ?? 0) }
}

/** One invocation per command (without -o), against the store and files made in beforeAll. */
function samples(): Record<string, () => string[]> {
  const node = () => kubeadmNode()
  return {
    'policy check': () => ['policy', 'check', POLICY],
    'policy explain': () => ['policy', 'explain', POLICY, '--verb', 'get', '--resource', 'pods/exec', '-n', 'x'],
    'policy lint': () => ['policy', 'lint', POLICY],
    'policy simulate': () => ['policy', 'simulate', POLICY, LOG],
    'policy diff': () => ['policy', 'diff', POLICY, POLICY2, LOG],
    import: () => ['import', smallLog, '--data-dir', join(mkdtempSync(join(tmpdir(), 'kubetrail-contract-import-')), 'data')],
    query: () => ['query', '--resource', 'secrets', '--data-dir', store],
    who: () => ['who', 'delete', 'deployment/novelapp', '-n', 'production', '--data-dir', store],
    history: () => ['history', 'deployment/webapp', '-n', 'production', '--data-dir', store],
    top: () => ['top', '--by', 'user', '--data-dir', store],
    sql: () => ['sql', 'SELECT username, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1', '--data-dir', store],
    verify: () => ['verify', '--data-dir', store],
    'checkpoint keygen': () => ['checkpoint', 'keygen', '--file', join(mkdtempSync(join(tmpdir(), 'kubetrail-contract-key-')), 'checkpoint.key'), '--force'],
    'verify-proof': () => ['verify-proof', proofFile, '--public-key', `${process.env['KUBETRAIL_CHECKPOINT_KEY']}.pub`],
    prune: () => ['prune', '--older-than', '36500d', '--data-dir', store],
    'store init': () => ['store', 'init', '--data-dir', store],
    'store status': () => ['store', 'status', '--data-dir', store],
    'store compact': () => ['store', 'compact', '--data-dir', store],
    'store copy': () => ['store', 'copy', '--from', `duckdb:${store}`, '--to', `duckdb:${join(mkdtempSync(join(tmpdir(), 'kubetrail-contract-copy-')), 'data')}`],
    replay: () => ['replay', smallLog, '--to', replayUrl, '--data-dir', store],
    doctor: () => ['doctor', '--root', node().root],
    enable: () => {
      const t = node()
      return ['enable', '--root', t.root, '--policy', POLICY, '--log-path', '/var/log/kubernetes/audit/audit.log', '--dry-run']
    },
    disable: () => ['disable', '--root', node().root, '--dry-run'],
    'rules check': () => ['rules', 'check'],
    'rules coverage': () => ['rules', 'coverage', '--policy', POLICY],
    detect: () => ['detect', LOG],
    alerts: () => ['alerts', '--data-dir', store],
    'rbac generate': () => ['rbac', 'generate', '--serviceaccount', 'ci/deployer', '--data-dir', store],
    'rbac unused': () => ['rbac', 'unused', '--data-dir', store],
    'rbac who-can': () => ['rbac', 'who-can', 'delete', 'deployment/novelapp', '-n', 'production', '--data-dir', store],
  }
}

/** What one ndjson line of a command must match: an element of an array document, else the document. */
function lineSchema(schema: TSchema): TSchema {
  return schema['type'] === 'array' && schema['items'] ? (schema['items'] as TSchema) : schema
}

function expectValid(schema: TSchema, value: unknown, what: string): void {
  const errors = [...Value.Errors(schema, value)].slice(0, 5).map((e) => `${e.path}: ${e.message}`)
  expect(errors, what).toEqual([])
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/

beforeAll(async () => {
  writeFileSync(smallLog, readFileSync(LOG, 'utf8').split('\n').slice(0, 60).join('\n') + '\n')
  writeFileSync(requests, `${JSON.stringify({ verb: 'get', path: '/healthz' })}\n${JSON.stringify({ verb: 'delete', resource: 'pods', namespace: 'x' })}\n`)
  expect((await run(['import', LOG, '--data-dir', store])).code).toBe(0)
  const auditId = (JSON.parse(readFileSync(LOG, 'utf8').split('\n')[0]!) as { auditID: string }).auditID
  writeFileSync(proofFile, (await run(['prove', auditId, '--data-dir', store])).out)
  // what `serve` records: the alerts of the log, with their ids
  const alerts = JSON.parse((await run(['detect', LOG, '-o', 'json'])).out) as Alert[]
  writeFileSync(join(store, 'alerts.ndjson'), alerts.map((a) => JSON.stringify({ id: alertId(a), ...a })).join('\n') + '\n', { mode: 0o600 })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address() as { port: number }
  replayUrl = `http://127.0.0.1:${address.port}/v1/clusters/contract/events`
}, 120_000)

afterAll(() => new Promise<void>((done) => server.close(() => done())))

describe('CLI output contract', () => {
  it('every command prints results in the shared formats, or says why it does not', () => {
    const missing = COMMANDS.filter((c) => !c.output && !(c.path.join(' ') in NO_RESULT_OUTPUT)).map((c) => c.path.join(' '))
    expect(missing, 'declare output: { schema } (src/cli/output.ts), or list the command in NO_RESULT_OUTPUT with what it prints').toEqual([])
    const untested = COMMANDS.filter((c) => c.output && !(c.path.join(' ') in samples())).map((c) => c.path.join(' '))
    expect(untested, 'add a sample invocation to this contract test').toEqual([])
  })

  it('docs/output.md documents the shape of every command with output', () => {
    const doc = readFileSync(resolve(REPO_ROOT, 'docs/output.md'), 'utf8')
    const undocumented = COMMANDS.filter((c) => c.output && !doc.includes(`### ${c.path.join(' ')}`) && !doc.includes(`, ${c.path.join(' ')}\n`)).map((c) => c.path.join(' '))
    expect(undocumented).toEqual([])
  })

  const withOutput = COMMANDS.filter((c): c is CommandDefinition<never> & { output: NonNullable<CommandDefinition['output']> } => c.output !== undefined)
  for (const def of withOutput) {
    const name = def.path.join(' ')
    it(`${name}: -o ${OUTPUT_FORMATS.join('|')} and --json`, async () => {
      const argv = samples()[name]!()
      const help = (await run([...def.path, '--help'])).out
      expect(help).toContain('-o, --output <format>')
      expect(help).toContain('--json')
      const json = await run([...argv, '-o', 'json'])
      expect(json.err, `${name} -o json`).toBe('')
      const doc = JSON.parse(json.out) as unknown
      expectValid(def.output.schema, doc, `${name} -o json`)
      // --json is -o json; yaml carries the same values
      const alias = await run([...argv, '--json'])
      const yaml = await run([...argv, '-o', 'yaml'])
      if (!['import', 'replay', 'prune', 'store copy', 'store compact', 'checkpoint keygen'].includes(name)) {
        expect(JSON.parse(alias.out), `${name} --json`).toEqual(doc)
        expect(parseYaml(yaml.out), `${name} -o yaml`).toEqual(doc)
      } else {
        // timings and per-run figures differ between runs (a second copy finds its events there, keygen makes a new key): the shape is the contract
        expectValid(def.output.schema, JSON.parse(alias.out), `${name} --json`)
        expectValid(def.output.schema, parseYaml(yaml.out), `${name} -o yaml`)
      }
      const ndjson = await run([...argv, '-o', 'ndjson'])
      expect(ndjson.err, `${name} -o ndjson`).toBe('')
      const lines = ndjson.out.split('\n').filter(Boolean)
      if (def.output.ndjson === undefined) {
        for (const line of lines) expectValid(lineSchema(def.output.schema), JSON.parse(line), `${name} -o ndjson line`)
        if (Array.isArray(doc) && !['import', 'replay', 'prune', 'store copy', 'store compact', 'checkpoint keygen'].includes(name)) expect(lines.length, `${name} -o ndjson lines`).toBe(doc.length)
      } else for (const line of lines) JSON.parse(line)
      for (const format of ['table', 'wide'] as const) {
        const text = await run([...argv, '-o', format])
        expect(text.err, `${name} -o ${format}`).toBe('')
        expect(text.out.length, `${name} -o ${format}`).toBeGreaterThan(0)
        expect(CONTROL.test(text.out), `${name} -o ${format} has control characters`).toBe(false)
      }
      // a format that does not exist is a usage error naming the ones that do
      const bad = await run([...argv, '-o', 'xml'])
      expect(bad.code).toBe(2)
      expect(bad.err).toMatch(/-o xml: not an output format \[KT_USAGE\]\nhint: Use one of table, wide, json, yaml, ndjson/)
    }, 60_000)
  }
})

describe('one table renderer', () => {
  it('aligns headers with their columns (numbers right, text left), no trailing spaces', () => {
    const t = renderTable(['USER', { header: 'COUNT', align: 'right' }, 'SOURCE-IPS'], [['bob', '1,234', '127.0.0.1'], ['alice@example.com', '7', '10.0.0.1']])
    expect(t).toBe(['USER               COUNT  SOURCE-IPS', 'bob                1,234  127.0.0.1', 'alice@example.com      7  10.0.0.1'].join('\n'))
  })

  it('strips escape sequences, C0/C1 controls, line breaks and bidi overrides from cells', () => {
    const hostile = ['kubectl\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07', 'a\x1b[2J\x1b[31mred', 'evil\u202egnp.exe', 'x\r\ny', 'c1\x9b31m', 'del\x7f']
    const t = renderTable(['VALUE'], hostile.map((h) => [h]))
    expect(CONTROL.test(t)).toBe(false)
    expect(t).not.toContain('\x1b')
    expect(t.split('\n')).toHaveLength(hostile.length + 1)
    expect(t).toContain('\ufffdred')
  })

  it('on a terminal, what machine output leaves raw becomes \\u escapes: the same JSON value', () => {
    const json = JSON.stringify({ ua: 'a\u009b31m\u202eb\u2028' })
    const shown = escapeForTerminal(json)
    expect(CONTROL.test(shown)).toBe(false)
    expect(JSON.parse(shown)).toEqual(JSON.parse(json))
  })
})

describe('hostile event text', () => {
  it('query, who, history, top, detect and alerts print no control sequence from the events; JSON keeps the exact values', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-hostile-')), 'data')
    const ua = 'kubectl/v1.32.4\x1b]8;;http://evil.example/\x07 \x1b[2J\x1b[H\u202egnp.exe\x9b'
    const user = 'mallory\x1b[8m@example.com\u2066'
    const lines = readFileSync(LOG, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"novelapp"') && l.includes('"delete"'))
      .map((l) => {
        const e = JSON.parse(l) as { userAgent: string; user: { username: string }; auditID: string }
        e.userAgent = ua
        e.user.username = user
        e.auditID = `hostile-${e.auditID}`
        return JSON.stringify(e)
      })
    expect(lines.length).toBeGreaterThan(0)
    const log = join(work, 'hostile.log')
    writeFileSync(log, lines.join('\n') + '\n')
    expect((await run(['import', log, '--data-dir', dir])).code).toBe(0)
    for (const argv of [
      ['query', '-o', 'wide'],
      ['query', '-o', 'csv'],
      ['who', 'delete', 'deployment/novelapp', '-n', 'production'],
      ['history', 'deployment/novelapp', '-n', 'production'],
      ['top', '--by', 'user-agent'],
      ['top', '--by', 'user'],
      ['detect', '-o', 'wide'],
    ]) {
      const r = await run([...argv, '--data-dir', dir])
      expect(r.out.length, argv.join(' ')).toBeGreaterThan(0)
      if (argv.includes('csv')) continue // csv is for programs: exact values
      expect(CONTROL.test(r.out), `${argv.join(' ')}: ${JSON.stringify(r.out)}`).toBe(false)
    }
    const exact = JSON.parse((await run(['query', '-o', 'json', '--data-dir', dir])).out) as Array<{ userAgent: string; user: { username: string } }>
    expect(exact[0]!.userAgent).toBe(ua)
    expect(exact[0]!.user.username).toBe(user)
  })
})
