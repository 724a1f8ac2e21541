/**
 * @module The HTTPS endpoint of `kubetrail serve` (fastify): the apiserver's webhook backend
 * posts EventLists here. Authentication by client certificate (against `--client-ca`, as in the
 * webhook kubeconfig) and/or bearer token; none at all only with `insecure`.
 *
 * Replies: 200 once every accepted event is durable; 400 when a body holds nothing usable; 401
 * without valid credentials; 413 over the body limit; 429 / 503 with Retry-After when the
 * collector cannot take events right now (the apiserver retries 429 and 5xx, so nothing is
 * accepted and then dropped).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { getHeapStatistics } from 'node:v8'
import type { TLSSocket } from 'node:tls'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { KubetrailError } from '../core/errors.js'
import { CLUSTER_NAME, CLUSTER_NAME_RULE } from '../core/cluster.js'
import { BodyInvalidError } from './pipeline.js'
import { CollectorBusyError, type Collector } from './collector.js'

export interface ServerOptions {
  host: string
  port: number
  /** Cluster for `POST /v1/events` (the path form names its own). */
  defaultCluster: string
  tls?: { cert: string; key: string }
  /** PEM bundle of CAs whose client certificates are accepted. */
  clientCa?: string
  /** Accepted bearer tokens (one per line in the file the CLI reads). */
  tokens?: readonly string[]
  /** No authentication at all. */
  insecure?: boolean
  /** Serve /metrics without authentication (Prometheus without credentials). */
  publicMetrics?: boolean
  bodyLimitBytes?: number
  /** Bodies being received or processed at once; beyond it new requests get 429 (memory stays bounded). */
  maxInFlightBytes?: number
}


/** Tokens as SHA-256 digests, compared in constant time. */
function tokenChecker(tokens: readonly string[]): (presented: string) => boolean {
  const digests = tokens.map((t) => createHash('sha256').update(t).digest())
  return (presented) => {
    const d = createHash('sha256').update(presented).digest()
    let ok = false
    for (const known of digests) ok = timingSafeEqual(known, d) || ok
    return ok
  }
}

export function readTokenFile(path: string): string[] {
  const tokens = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  if (tokens.length === 0) throw new KubetrailError('KT_CONFIG_INVALID', `${path}: no tokens (one per line)`, { hint: 'Put at least one long random token in the file, e.g. `openssl rand -hex 32`.' })
  return tokens
}

export async function createServer(collector: Collector, options: ServerOptions): Promise<FastifyInstance> {
  if (!options.insecure && !options.clientCa && !(options.tokens && options.tokens.length > 0))
    throw new KubetrailError('KT_NO_AUTH', 'refusing to listen without authentication', {
      hint: 'Give --client-ca (the apiserver presents the client certificate from `kubetrail webhook-config`) and/or --token-file; or --insecure to accept anyone (tests only).',
    })
  if (options.clientCa && !options.tls) throw new KubetrailError('KT_CONFIG_INVALID', '--client-ca needs TLS', { hint: 'Client certificates only exist over TLS: give --tls-cert/--tls-key or let kubetrail make them.' })
  const checkToken = tokenChecker(options.tokens ?? [])
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes ?? 32 * 1024 * 1024,
    requestTimeout: 60_000,
    connectionTimeout: 120_000,
    ...(options.tls
      ? { https: { cert: options.tls.cert, key: options.tls.key, ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: false } : {}) } }
      : {}),
  }) as unknown as FastifyInstance

  const authenticated = (req: FastifyRequest): boolean => {
    if (options.insecure) return true
    const socket = req.raw.socket as TLSSocket
    if (options.clientCa && socket.authorized === true) return true
    const header = req.headers.authorization
    return typeof header === 'string' && header.startsWith('Bearer ') && checkToken(header.slice(7).trim())
  }
  const deny = (reply: FastifyReply) => reply.code(401).send({ error: 'unauthorized', message: 'a client certificate signed by --client-ca or a bearer token from --token-file is required' })

  // Bounded memory under a flood: the bytes of bodies in flight are counted from Content-Length
  // before a body is read; over the limit a request is refused with a retry-able 429.
  // A body's parsed form takes ~5x its bytes: in flight at once, bodies may take a tenth of the
  // heap (15 MB under the 128 MB old space the unit and image set), at most 64 MB.
  const maxInFlight = options.maxInFlightBytes ?? Math.min(64 * 1024 * 1024, Math.floor(getHeapStatistics().heap_size_limit / 10))
  let inFlight = 0
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'POST') return
    // a sender the collector would refuse anyway is told so before its body is read and parsed
    // (unauthenticated ones go on to their 401; accepted ones are authenticated once, in the route)
    const refusal = collector.refusal()
    if (refusal && authenticated(req)) {
      collector.metrics.requests.inc({ cluster: 'unknown', code: String(refusal.status) })
      return reply.code(refusal.status).header('Retry-After', String(refusal.retryAfterSeconds)).send({ error: 'busy', message: refusal.message })
    }
    const length = Number(req.headers['content-length'] ?? 0)
    if (inFlight > 0 && inFlight + length > maxInFlight) {
      collector.metrics.requests.inc({ cluster: 'unknown', code: '429' })
      return reply.code(429).header('Retry-After', '1').send({ error: 'busy', message: `${inFlight} bytes of requests in progress (limit ${maxInFlight})` })
    }
    inFlight += length
    reply.raw.once('close', () => (inFlight -= length))
  })

  // Read as bytes and decoded once: read as text, a body is built from one string per network
  // chunk, young objects that (4 senders uploading at once) outlived V8's young-generation
  // collections and were copied into the old generation.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  const receive = async (req: FastifyRequest, reply: FastifyReply, cluster: string) => {
    if (!CLUSTER_NAME.test(cluster)) return reply.code(400).send({ error: 'bad cluster', message: `cluster name "${cluster}": ${CLUSTER_NAME_RULE}` })
    const count = (code: number) => collector.metrics.requests.inc({ cluster, code: String(code) })
    if (!authenticated(req)) {
      count(401)
      return deny(reply)
    }
    try {
      const outcome = await collector.ingestBody(cluster, Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '')
      if (outcome.accepted === 0 && outcome.rejectedCount > 0) {
        count(400)
        return reply.code(400).send({ error: 'no valid events', rejected: outcome.rejected, rejectedCount: outcome.rejectedCount })
      }
      count(200)
      collector.metrics.batchEvents.observe(outcome.accepted + outcome.rejectedCount + outcome.dropped)
      return reply.code(200).send({ accepted: outcome.accepted, dropped: outcome.dropped, rejected: outcome.rejected, rejectedCount: outcome.rejectedCount, ...(outcome.safeForm > 0 ? { bodiesOmitted: outcome.safeForm } : {}) })
    } catch (error) {
      if (error instanceof BodyInvalidError) {
        count(400)
        return reply.code(400).send({ error: 'invalid body', message: error.message })
      }
      if (error instanceof CollectorBusyError) {
        count(error.status)
        return reply.code(error.status).header('Retry-After', String(error.retryAfterSeconds)).send({ error: 'busy', message: error.message })
      }
      throw error
    }
  }

  app.post<{ Params: { cluster: string } }>('/v1/clusters/:cluster/events', (req, reply) => receive(req, reply, req.params.cluster))
  app.post('/v1/events', (req, reply) => receive(req, reply, options.defaultCluster))
  app.get('/livez', async (_req, reply) => reply.code(200).type('text/plain').send('ok\n'))
  app.get('/readyz', async (_req, reply) =>
    collector.ready ? reply.code(200).type('text/plain').send('ok\n') : reply.code(503).type('text/plain').send(`not ready: ${collector.notReadyReason ?? 'shutting down'}\n`),
  )
  app.get('/metrics', async (req, reply) => {
    if (!options.publicMetrics && !authenticated(req)) return deny(reply)
    return reply.code(200).type(collector.metrics.registry.contentType).send(await collector.metrics.registry.metrics())
  })
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    void reply.code(status).send({ error: error.code ?? 'error', message: error.message })
  })
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not found', message: `${req.method} ${req.url}: post events to /v1/clusters/<name>/events` }))
  await app.listen({ host: options.host, port: options.port })
  return app
}
