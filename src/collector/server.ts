/**
 * @module The HTTPS endpoint of `kubetrail serve` (fastify): the apiserver's webhook backend
 * posts EventLists here. Authentication (src/collector/auth.ts: roles, client certificates,
 * bearer tokens) happens in the onRequest hook, before a body is read: a peer without the
 * right credentials costs a 401/403 and a closed connection, never a buffered body.
 *
 * Memory stays bounded under any number of connections: at most `maxConnections` at once,
 * 10 s for a TLS handshake and for the request headers, 60 s for a whole request; the bytes of
 * bodies in flight (announced by Content-Length, or counted as they stream when chunked) are
 * capped, beyond which requests get a retry-able 429; a body holds at most `maxBatchItems`
 * events (413 beyond, found before any is parsed).
 *
 * Replies: 200 once every accepted event is durable; 400 when a body holds nothing usable; 401
 * without valid credentials, 403 with credentials that do not hold the role (or the cluster);
 * 413 over the body or item limit; 429 / 503 with Retry-After when the collector cannot take
 * events right now (the apiserver retries 429 and 5xx, so nothing is accepted and then dropped).
 */
import { getHeapStatistics } from 'node:v8'
import { Transform } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { KubetrailError } from '../core/errors.js'
import { CLUSTER_NAME, CLUSTER_NAME_RULE } from '../core/cluster.js'
import { BodyInvalidError, DEFAULT_MAX_ITEMS, TooManyItemsError } from './pipeline.js'
import { CollectorBusyError, type Collector } from './collector.js'
import { authenticate, Authenticator, installAuthenticator, type Role, type TokenGrant } from './auth.js'

export interface ServerOptions {
  host: string
  port: number
  /** Cluster for `POST /v1/events` (the path form names its own). */
  defaultCluster: string
  tls?: { cert: string; key: string }
  /** PEM bundle of CAs whose client certificates are accepted. */
  clientCa?: string
  /** Accepted bearer tokens and their roles (`--token-file`). */
  tokens?: readonly TokenGrant[]
  /** No authentication at all. */
  insecure?: boolean
  /** Serve /metrics without authentication (Prometheus without credentials). */
  publicMetrics?: boolean
  bodyLimitBytes?: number
  /** Bodies being received or processed at once; beyond it new requests get 429 (memory stays bounded). */
  maxInFlightBytes?: number
  /** Events one body may hold (DEFAULT_MAX_ITEMS). */
  maxBatchItems?: number
  /** Connections open at once (DEFAULT_MAX_CONNECTIONS); more are closed as they arrive. */
  maxConnections?: number
}

/** Connections at once: the apiserver keeps a few; each idle TLS connection costs ~50-100 KB. */
export const DEFAULT_MAX_CONNECTIONS = 256
/** For a TLS handshake, and for a request's headers. */
const HANDSHAKE_AND_HEADERS_MS = 10_000

/** A reply that also closes the connection, so a body the sender is still sending is never read. */
function refuse(reply: FastifyReply, status: number, body: object, retryAfter?: number): FastifyReply {
  reply.header('connection', 'close')
  if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter))
  return reply.code(status).send(body)
}

export async function createServer(collector: Collector, options: ServerOptions): Promise<FastifyInstance> {
  const auth = new Authenticator({ insecure: options.insecure, clientCertificates: Boolean(options.clientCa), tokens: options.tokens, publicMetrics: options.publicMetrics })
  if (!auth.anyCredential)
    throw new KubetrailError('KT_NO_AUTH', 'refusing to listen without authentication', {
      hint: 'Give --client-ca (the apiserver presents the client certificate from `kubetrail webhook-config`) and/or --token-file; or --insecure to accept anyone (tests only).',
    })
  if (options.clientCa && !options.tls) throw new KubetrailError('KT_CONFIG_INVALID', '--client-ca needs TLS', { hint: 'Client certificates only exist over TLS: give --tls-cert/--tls-key or let kubetrail make them.' })
  const maxItems = options.maxBatchItems ?? DEFAULT_MAX_ITEMS
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes ?? 32 * 1024 * 1024,
    requestTimeout: 60_000,
    connectionTimeout: 120_000,
    keepAliveTimeout: 30_000,
    ...(options.tls
      ? {
          https: {
            cert: options.tls.cert,
            key: options.tls.key,
            handshakeTimeout: HANDSHAKE_AND_HEADERS_MS,
            ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
          },
        }
      : {}),
  }) as unknown as FastifyInstance
  app.server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  app.server.headersTimeout = HANDSHAKE_AND_HEADERS_MS
  installAuthenticator(app, auth)

  // Bounded memory under a flood: the bytes of bodies in flight are counted before a body is
  // read (Content-Length) and as it streams (chunked, or beyond what was announced); over the
  // limit a request is refused with a retry-able 429. A body's parsed form takes ~5x its bytes:
  // in flight at once, bodies may take a tenth of the heap (15 MB under the 128 MB old space the
  // unit and image set), at most 64 MB. The first body in flight is always taken (--max-body caps it).
  const maxInFlight = options.maxInFlightBytes ?? Math.min(64 * 1024 * 1024, Math.floor(getHeapStatistics().heap_size_limit / 10))
  let inFlight = 0
  const counted = new WeakMap<FastifyRequest, { bytes: number }>()
  const busy = (reply: FastifyReply, cluster: string) => {
    collector.metrics.requests.inc({ cluster, code: '429' })
    return refuse(reply, 429, { error: 'busy', message: `${inFlight} bytes of requests in progress (limit ${maxInFlight})` }, 1)
  }

  app.addHook('onRequest', async (req, reply) => {
    const role = req.routeOptions.config.role
    if (role === 'public') return
    const cluster = role === 'ingest' ? clusterOf(req, options.defaultCluster) : undefined
    const label = cluster !== undefined && CLUSTER_NAME.test(cluster) ? cluster : 'unknown'
    // unknown paths need a credential too: an unauthenticated peer learns nothing and sends nothing
    const result = role === undefined ? anyRole(req) : authenticate(req, role, cluster)
    if (!result.ok) {
      if (role === 'ingest') collector.metrics.requests.inc({ cluster: label, code: String(result.status) })
      return refuse(reply, result.status, { error: result.status === 401 ? 'unauthorized' : 'forbidden', message: result.message })
    }
    if (role !== 'ingest') return
    if (!CLUSTER_NAME.test(cluster!)) return refuse(reply, 400, { error: 'bad cluster', message: `cluster name "${cluster}": ${CLUSTER_NAME_RULE}` })
    // a sender the collector would refuse anyway is told so before its body is read and parsed
    const refusal = collector.refusal()
    if (refusal) {
      collector.metrics.requests.inc({ cluster: label, code: String(refusal.status) })
      return refuse(reply, refusal.status, { error: 'busy', message: refusal.message }, refusal.retryAfterSeconds)
    }
    const announced = Number(req.headers['content-length'] ?? 0) || 0
    if (inFlight > 0 && inFlight + announced > maxInFlight) return busy(reply, label)
    const share = { bytes: announced }
    inFlight += announced
    counted.set(req, share)
    reply.raw.once('close', () => (inFlight -= share.bytes))
  })

  // chunked bodies (no Content-Length) and bodies longer than announced count as they arrive
  app.addHook('preParsing', async (req, _reply, payload) => {
    const share = counted.get(req)
    if (!share) return payload
    let received = 0
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length
        const more = received - share.bytes
        if (more > 0) {
          // alone in flight, a body is capped by --max-body only
          if (inFlight > share.bytes && inFlight + more > maxInFlight) {
            done(Object.assign(new Error(`${inFlight} bytes of requests in progress (limit ${maxInFlight})`), { statusCode: 429, code: 'busy' }))
            return
          }
          inFlight += more
          share.bytes = received
        }
        done(null, chunk)
      },
    })
    return payload.pipe(counter)
  })

  // Read as bytes and decoded once: read as text, a body is built from one string per network
  // chunk, young objects that (4 senders uploading at once) outlived V8's young-generation
  // collections and were copied into the old generation.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  const receive = async (req: FastifyRequest, reply: FastifyReply, cluster: string) => {
    const count = (code: number) => collector.metrics.requests.inc({ cluster, code: String(code) })
    try {
      const outcome = await collector.ingestBody(cluster, Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '', maxItems)
      if (outcome.accepted === 0 && outcome.rejectedCount > 0) {
        count(400)
        return reply.code(400).send({ error: 'no valid events', rejected: outcome.rejected, rejectedCount: outcome.rejectedCount })
      }
      count(200)
      collector.metrics.batchEvents.observe(outcome.accepted + outcome.rejectedCount + outcome.dropped)
      return reply.code(200).send({ accepted: outcome.accepted, dropped: outcome.dropped, rejected: outcome.rejected, rejectedCount: outcome.rejectedCount, ...(outcome.safeForm > 0 ? { bodiesOmitted: outcome.safeForm } : {}) })
    } catch (error) {
      if (error instanceof TooManyItemsError) {
        count(413)
        return reply.code(413).send({ error: 'too many events', message: error.message, hint: error.hint })
      }
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

  const ingest = { config: { role: 'ingest' as Role } }
  const open = { config: { role: 'public' as const } }
  app.post<{ Params: { cluster: string } }>('/v1/clusters/:cluster/events', ingest, (req, reply) => receive(req, reply, req.params.cluster))
  app.post('/v1/events', ingest, (req, reply) => receive(req, reply, options.defaultCluster))
  app.get('/livez', open, async (_req, reply) => reply.code(200).type('text/plain').send('ok\n'))
  app.get('/readyz', open, async (_req, reply) =>
    collector.ready ? reply.code(200).type('text/plain').send('ok\n') : reply.code(503).type('text/plain').send(`not ready: ${collector.notReadyReason ?? 'shutting down'}\n`),
  )
  app.get('/metrics', { config: { role: 'metrics' as Role } }, async (_req, reply) =>
    reply.code(200).type(collector.metrics.registry.contentType).send(await collector.metrics.registry.metrics()),
  )
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    // a body refused midway (too large, over the in-flight budget) is not read any further
    if (status === 413 || status === 429) return refuse(reply, status, { error: error.code ?? 'error', message: error.message }, status === 429 ? 1 : undefined)
    void reply.code(status).send({ error: error.code ?? 'error', message: error.message })
  })
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not found', message: `${req.method} ${req.url}: post events to /v1/clusters/<name>/events` }))
  await app.listen({ host: options.host, port: options.port })
  return app
}

/** The cluster an ingest request writes to. */
function clusterOf(req: FastifyRequest, defaultCluster: string): string {
  const params = req.params as { cluster?: string } | undefined
  return params?.cluster ?? defaultCluster
}

/** For paths no route has: any valid credential, whatever its role. */
function anyRole(req: FastifyRequest) {
  let last = authenticate(req, 'ingest')
  for (const role of ['metrics', 'query'] as const) {
    if (last.ok) return last
    last = authenticate(req, role)
  }
  return last
}
