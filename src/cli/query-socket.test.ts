import { mkdtempSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { collectOutput } from './command.js'
import { invoke } from './program.js'
import { QUERY_SOCKET, runInServer, serveQueries } from './query-socket.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }

async function local(args: string[]): Promise<{ out: string; code: number }> {
  const r = await invoke(args, ctx)
  return { out: r.result ? await collectOutput(r.result) : '', code: r.result?.exitCode ?? r.exitCode }
}

async function served(args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  let out = ''
  let err = ''
  const code = await runInServer(args, process.cwd(), { out: async (c) => void (out += c), err: (t) => void (err += t) })
  return { out, err, code }
}

async function storeWithEvents(): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-sock-')), 'data')
  const r = await local(['import', requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), '--data-dir', dir])
  expect(r.code).toBe(0)
  return dir
}

describe('read commands through a running serve (query.sock)', () => {
  it('answers query, who, top, sql and verify as the command would itself, on a private socket', async () => {
    const dir = await storeWithEvents()
    const log: string[] = []
    const stop = await serveQueries(dir, (l) => log.push(l))
    try {
      expect(statSync(join(dir, QUERY_SOCKET)).mode & 0o777).toBe(0o600)
      for (const args of [
        ['query', '--preset', 'secret-access', '--limit', '0', '-o', 'ndjson'],
        ['query', '--user', 'mallory', '-o', 'json'],
        ['who', 'delete', 'deployment/novelapp', '-n', 'production'],
        ['top', '--by', 'verb'],
        ['sql', 'SELECT count(*) AS n FROM events'],
        ['verify'],
      ]) {
        const viaServer = await served([...args, '--data-dir', dir])
        const itself = await local([...args, '--data-dir', dir])
        expect(viaServer.code, args.join(' ')).toBe(itself.code)
        expect(viaServer.out, args.join(' ')).toBe(itself.out)
        expect(viaServer.out.length).toBeGreaterThan(0)
      }
      // errors come back rendered, with the command's exit code
      const bad = await served(['query', '--preset', 'nope', '--data-dir', dir])
      expect(bad.code).toBe(2)
      expect(bad.err).toMatch(/unknown preset "nope" \[KT_USAGE\]/)
      const write = await served(['sql', 'DELETE FROM events', '--data-dir', dir])
      expect(write.code).not.toBe(0)
      expect(write.err).toMatch(/KT_SQL_NOT_READ_ONLY/)
      // a question asked of log files is answered here, from the files, even with a serve running
      const log = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))
      expect((await served(['who', 'get', 'pods', log, '--data-dir', dir])).code).toBeUndefined()
      expect((await served(['top', `${resolve(FIXTURES_DIR, 'runs/full')}/audit*.log`, '--data-dir', dir])).code).toBeUndefined()
      // several at once: run one after the other on the one reader, each complete; long answers
      // wait for the socket to drain many times without piling up listeners
      const warnings: string[] = []
      const onWarning = (w: Error) => warnings.push(w.name)
      process.on('warning', onWarning)
      const many = await Promise.all(Array.from({ length: 5 }, () => served(['query', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])))
      const expected = (await local(['query', '--limit', '0', '-o', 'ndjson', '--data-dir', dir])).out
      for (const m of many) expect(m.out).toBe(expected)
      await new Promise((r) => setImmediate(r))
      process.off('warning', onWarning)
      expect(warnings).not.toContain('MaxListenersExceededWarning')
      // only read commands are accepted
      const status = await new Promise<number>((done, fail) => {
        const body = JSON.stringify({ argv: ['import', '/etc/passwd'] })
        const req = request({ socketPath: join(dir, QUERY_SOCKET), path: '/v1/run', method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
          res.resume()
          done(res.statusCode ?? 0)
        })
        req.on('error', fail)
        req.end(body)
      })
      expect(status).toBe(400)
      expect(await runInServer(['import', 'x.log', '--data-dir', dir], process.cwd(), { out: async () => {}, err: () => {} })).toBeUndefined()
    } finally {
      await stop()
    }
    expect(existsSync(join(dir, QUERY_SOCKET))).toBe(false)
    expect(log.join('\n')).toContain(QUERY_SOCKET)
  })

  it('a client that goes away mid-answer (`| head`) does not hold up the next one', async () => {
    const dir = await storeWithEvents()
    const stop = await serveQueries(dir, () => {})
    try {
      await new Promise<void>((done, fail) => {
        const body = JSON.stringify({ argv: ['query', '--limit', '0', '-o', 'ndjson'] })
        const req = request({ socketPath: join(dir, QUERY_SOCKET), path: '/v1/run', method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
          res.once('data', () => {
            req.destroy()
            done()
          })
        })
        req.on('error', (e) => (req.destroyed ? done() : fail(e)))
        req.end(body)
      })
      const next = await served(['top', '--by', 'verb', '--data-dir', dir])
      expect(next.code).toBe(0)
      expect(next.out).toMatch(/get/)
    } finally {
      await stop()
    }
  }, 20_000)

  it('runs the command here when no serve answers: no socket, or one left by a killed serve', async () => {
    const dir = await storeWithEvents()
    expect((await served(['query', '--data-dir', dir])).code).toBeUndefined()
    writeFileSync(join(dir, QUERY_SOCKET), '')
    expect((await served(['query', '--data-dir', dir])).code).toBeUndefined()
    // help is always local
    expect((await served(['query', '--help', '--data-dir', dir])).code).toBeUndefined()
  })
})
