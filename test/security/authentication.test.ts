/**
 * Issue 14, the collector's port: least-privileged roles (a metrics credential cannot forge
 * events, a cluster-A token cannot write cluster B), credentials checked before a body is read,
 * weak tokens refused, and a TLS session resumed without a certificate not taken for one.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, type TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FIXTURES_DIR, REPO_ROOT, requireFixture } from '../support/fixtures.js'
import { httpRequest, post } from '../../src/core/http.js'
import { issueClientCertificate, readTokenFile, startCollector, tlsPaths, tokenWeakness, type RunningCollector, type TokenGrant } from '../../src/collector/index.js'
import { invoke } from '../../src/cli/program.js'
import { renderError } from '../../src/cli/render-error.js'
import { parseAllDocuments } from 'yaml'

const BODY = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/webhook/req-00001.body')), 'utf8')
const token = (name: string) => `${name}-Zq8Lr3Vx7Nc1Bm5Kt9Wd2Fg6Hj4Ps0Qa`
const INGEST_A = token('ingest-a')
const INGEST_ANY = token('ingest-any')
const METRICS = token('metrics')
const QUERY = token('query')

describe('roles on the collector port', () => {
  let running: RunningCollector
  let dir: string
  let ca: string
  const url = (path: string) => new URL(path, running.url)

  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-auth-')), 'data')
    const tokens: TokenGrant[] = [
      { token: INGEST_A, role: 'ingest', clusters: ['cluster-a'] },
      { token: INGEST_ANY, role: 'ingest' },
      { token: METRICS, role: 'metrics' },
      { token: QUERY, role: 'query' },
    ]
    running = await startCollector({ dataDir: dir, listen: { host: '127.0.0.1', port: 0 }, defaultCluster: 'cluster-b', tokens })
    ca = readFileSync(tlsPaths(dir).caCert, 'utf8')
  })

  afterAll(async () => {
    await running.stop()
  })

  it('refuses a metrics token (and a query token) on ingest, and an ingest token on /metrics (403)', async () => {
    expect((await post(url('/v1/clusters/cluster-a/events'), BODY, { ca, token: METRICS })).status).toBe(403)
    expect((await post(url('/v1/clusters/cluster-a/events'), BODY, { ca, token: QUERY })).status).toBe(403)
    expect((await httpRequest('GET', url('/metrics'), undefined, { ca, token: INGEST_ANY })).status).toBe(403)
    const scraped = await httpRequest('GET', url('/metrics'), undefined, { ca, token: METRICS })
    expect(scraped.status).toBe(200)
    expect(scraped.body).toMatch(/kubetrail_webhook_requests_total\{cluster="cluster-a",code="403"\} 2/)
  })

  it('lets a cluster-A token write cluster A only: not B by its path, nor by /v1/events (whose cluster is B)', async () => {
    expect((await post(url('/v1/clusters/cluster-a/events'), BODY, { ca, token: INGEST_A })).status).toBe(200)
    const refused = await post(url('/v1/clusters/cluster-b/events'), BODY, { ca, token: INGEST_A })
    expect(refused.status, refused.body).toBe(403)
    expect((JSON.parse(refused.body) as { message: string }).message).toMatch(/may not ingest for cluster "cluster-b"/)
    expect((await post(url('/v1/events'), BODY, { ca, token: INGEST_A })).status).toBe(403)
    expect((await post(url('/v1/clusters/cluster-b/events'), BODY, { ca, token: INGEST_ANY })).status).toBe(200)
  })

  it('reads roles and clusters from a client certificate\'s O values; one without them may only ingest', async () => {
    const cert = (cn: string, o: string[]) => ({ ca, ...issueClientCertificate(dir, cn, o) })
    const apiserver = { ca, cert: readFileSync(tlsPaths(dir).clientCert, 'utf8'), key: readFileSync(tlsPaths(dir).clientKey, 'utf8') }
    expect((await post(url('/v1/clusters/cluster-b/events'), BODY, apiserver)).status).toBe(200)
    expect((await httpRequest('GET', url('/metrics'), undefined, apiserver)).status).toBe(403)
    const prometheus = cert('prometheus', ['kubetrail:metrics'])
    expect((await httpRequest('GET', url('/metrics'), undefined, prometheus)).status).toBe(200)
    expect((await post(url('/v1/clusters/cluster-b/events'), BODY, prometheus)).status).toBe(403)
    const onlyA = cert('apiserver-a', ['kubetrail:ingest', 'kubetrail:cluster:cluster-a'])
    expect((await post(url('/v1/clusters/cluster-a/events'), BODY, onlyA)).status).toBe(200)
    expect((await post(url('/v1/clusters/cluster-b/events'), BODY, onlyA)).status).toBe(403)
  })

  it('answers 401 while an unauthenticated chunked body is still being sent, and closes the connection (the body is never read)', async () => {
    const port = Number(new URL(running.url).port)
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' })
    socket.on('error', () => {}) // writes after the collector closed: EPIPE, expected
    await new Promise((ok) => socket.once('secureConnect', ok))
    socket.write('POST /v1/clusters/cluster-a/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
    let reply = ''
    socket.on('data', (d: Buffer) => (reply += d.toString()))
    const closed = new Promise<void>((ok) => socket.once('close', () => ok()))
    // keep sending: the collector must neither wait for the end nor buffer what comes
    const chunk = Buffer.alloc(64 * 1024, 'x')
    const sender = setInterval(() => {
      if (!socket.destroyed) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
    }, 5)
    await closed
    clearInterval(sender)
    expect(reply).toMatch(/^HTTP\/1\.1 401/)
    expect(reply.toLowerCase()).toContain('connection: close')
  })

  it('does not take a TLS session resumed without a certificate for an authenticated one', async () => {
    const port = Number(new URL(running.url).port)
    const request = (session?: Buffer) =>
      new Promise<{ status: string; session: Buffer | undefined; reused: boolean }>((done, fail) => {
        const socket: TLSSocket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', session })
        let saved: Buffer | undefined
        let reused = false
        socket.on('session', (s: Buffer) => (saved = s))
        let reply = ''
        socket.on('data', (d: Buffer) => (reply += d.toString()))
        socket.on('error', fail)
        socket.once('secureConnect', () => (reused = socket.isSessionReused()) && false)
        socket.once('secureConnect', () => socket.write(`POST /v1/clusters/cluster-a/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\nConnection: close\r\n\r\n${BODY}`))
        socket.on('close', () => done({ status: reply.split('\r\n', 1)[0]!, session: saved, reused }))
      })
    const first = await request()
    expect(first.status).toMatch(/ 401 /)
    expect(first.session).toBeDefined()
    const resumed = await request(first.session)
    expect(resumed.reused).toBe(true)
    expect(resumed.status).toMatch(/ 401 /)
  })
})

describe('weak tokens', () => {
  const manifest = readFileSync(resolve(REPO_ROOT, 'deploy/kubernetes/kubetrail.yaml'), 'utf8')

  it('refuses the shipped manifest\'s placeholders, short and regular tokens, naming the line, never the token', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-tokens-'))
    const secret = parseAllDocuments(manifest).map((d) => d.toJS() as { kind?: string; stringData?: Record<string, string> }).find((d) => d.kind === 'Secret')!
    const cases: Array<[string, RegExp]> = [
      [secret.stringData!['tokens']!, /placeholder/],
      ['REPLACE-WITH-A-RANDOM-TOKEN\n', /placeholder/],
      ['x\n', /too short \(1 characters/],
      [`${'ab'.repeat(20)} metrics\n`, /too regular/],
      ['0123456789'.repeat(4) + '\n', /too regular/],
    ]
    for (const [text, why] of cases) {
      const file = join(dir, 'tokens')
      writeFileSync(file, `# a comment\n${text}`, { mode: 0o600 })
      let error: unknown
      try {
        readTokenFile(file)
      } catch (e) {
        error = e
      }
      expect(error, text).toMatchObject({ code: 'KT_TOKEN_WEAK', message: expect.stringMatching(why) })
      expect((error as Error).message).toMatch(new RegExp(`${file}:\\d+`))
      expect((error as { hint: string }).hint).toMatch(/openssl rand -base64 32/)
      if (text.length > 3) expect((error as Error).message).not.toContain(text.trim().split(' ')[0])
    }
  })

  it('property: 32 random bytes in hex or base64 (what the hint generates) are always accepted', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom('hex', 'base64', 'base64url'), (bytes, encoding) => {
        expect(tokenWeakness(Buffer.from(bytes).toString(encoding as BufferEncoding))).toBeUndefined()
        expect(tokenWeakness(Buffer.from(bytes.slice(0, 16)).toString('hex'))).toBeUndefined()
      }),
      { numRuns: 2000 },
    )
  })

  it('`kubetrail serve --token-file` with a placeholder does not start: KT_TOKEN_WEAK and the way to make one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-tokens-'))
    writeFileSync(join(dir, 'tokens'), 'REPLACE-WITH-A-RANDOM-TOKEN metrics\n', { mode: 0o600 })
    const r = await invoke(['serve', '--listen', '127.0.0.1:0', '--token-file', join(dir, 'tokens'), '--data-dir', join(dir, 'data')], { stdin: new PassThrough(), cwd: dir, isTTY: false })
    expect(r.error).toMatchObject({ code: 'KT_TOKEN_WEAK' })
    expect(renderError(r.error!, false)).toMatch(/openssl rand -base64 32/)
  })

  it('reads roles and clusters, refuses a bad role or a token given twice, warns about the old one-token lines and a readable file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-tokens-'))
    const file = join(dir, 'tokens')
    writeFileSync(file, `${INGEST_A} ingest cluster-a cluster-c\n${METRICS} metrics\n${INGEST_ANY}\n`, { mode: 0o644 })
    const { tokens, warnings } = readTokenFile(file)
    expect(tokens.map(({ role, clusters }) => ({ role, clusters }))).toEqual([{ role: 'ingest', clusters: ['cluster-a', 'cluster-c'] }, { role: 'metrics', clusters: undefined }, { role: 'ingest', clusters: undefined }])
    expect(warnings.join('\n')).toMatch(new RegExp(`${file}:3: a token without a role may only ingest`))
    expect(warnings.join('\n')).toMatch(/may be read by other users \(mode 644\)/)
    for (const [text, why] of [
      [`${METRICS} admin\n`, /role "admin" is not one of ingest, metrics, query/],
      [`${METRICS} metrics cluster-a\n`, /a metrics token takes none/],
      [`${INGEST_A} ingest\n${INGEST_A} metrics\n`, /:2: the same token as .*:1/],
      [`${INGEST_A} ingest bad/name\n`, /cluster name "bad\/name"/],
    ] as const) {
      writeFileSync(file, text)
      expect(() => readTokenFile(file), text).toThrow(why)
    }
  })
})
