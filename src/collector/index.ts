/**
 * @module The collector (`kubetrail serve`): the webhook endpoint and log followers in front of
 * a WAL and the store. `startCollector` wires the parts; each part is usable alone in tests.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Collector, type CollectorOptions } from './collector.js'
import { Follower, type FollowSpec } from './follower.js'
import { createServer, type ServerOptions } from './server.js'
import type { TokenGrant } from './auth.js'
import { ensureTls, tlsPaths } from './tls.js'
import type { CollectorMetrics } from './metrics.js'
import { AlertDispatcher, type AlertSink } from '../detect/sinks.js'
import { Detector } from '../detect/engine.js'
import type { Rule } from '../detect/rules.js'

export { Collector, CollectorBusyError, type CollectorOptions, type IngestOutcome } from './collector.js'
export { Follower, type FollowSpec } from './follower.js'
export { BodyInvalidError, decodeBody, processEvents } from './pipeline.js'
export { Redactor, REDACTED_PREFIX } from '../ingest/index.js'
export { authenticate, certificateGrants, readTokenFile, ROLES, tokenWeakness, WeakTokenError, type AuthResult, type Grant, type Principal, type Role, type TokenGrant } from './auth.js'
export { DEFAULT_MAX_CONNECTIONS } from './server.js'
export { DEFAULT_MAX_ITEMS, TooManyItemsError } from './pipeline.js'
export { ensureTls, issueClientCertificate, tlsPaths, type TlsFiles } from './tls.js'
export { readWalFile, readWalFileAsync, WriteAheadLog } from './wal.js'
export { createMetrics, type CollectorMetrics } from './metrics.js'

export interface StartOptions extends CollectorOptions {
  listen: { host: string; port: number }
  defaultCluster: string
  follow?: readonly FollowSpec[]
  followFrom?: 'start' | 'end'
  /** PEM files; without them a private CA and certificates are made in `<data-dir>/tls/`. */
  tlsCertFile?: string
  tlsKeyFile?: string
  /** Extra names (hosts, IPs) for the generated server certificate. */
  tlsNames?: readonly string[]
  clientCaFile?: string
  tokens?: readonly TokenGrant[]
  insecure?: boolean
  /** With --insecure and no certificate: plain HTTP. */
  plainHttp?: boolean
  publicMetrics?: boolean
  bodyLimitBytes?: number
  maxInFlightBytes?: number
  maxBatchItems?: number
  maxConnections?: number
  /** Live detection with these rules (none: off). */
  rules?: readonly Rule[]
  alertSinks?: readonly AlertSink[]
}

export interface RunningCollector {
  url: string
  collector: Collector
  server: FastifyInstance
  /** True when this start made a new CA (the apiserver's kubeconfig must be regenerated). */
  madeCa: boolean
  caFile: string | undefined
  stop(): Promise<void>
}

export async function startCollector(options: StartOptions): Promise<RunningCollector> {
  let tls: ServerOptions['tls']
  let clientCa: string | undefined
  let madeCa = false
  let caFile: string | undefined
  if (options.tlsCertFile || options.tlsKeyFile) {
    tls = { cert: readFileSync(options.tlsCertFile!, 'utf8'), key: readFileSync(options.tlsKeyFile!, 'utf8') }
  } else if (!options.plainHttp) {
    madeCa = ensureTls(options.dataDir, options.tlsNames ?? [])
    const p = tlsPaths(options.dataDir)
    tls = { cert: readFileSync(p.serverCert, 'utf8'), key: readFileSync(p.serverKey, 'utf8') }
    caFile = p.caCert
  }
  if (options.clientCaFile) clientCa = readFileSync(options.clientCaFile, 'utf8')
  // our own CA signed the apiserver's client certificate: trust it unless told otherwise
  else if (caFile && !options.insecure) clientCa = readFileSync(caFile, 'utf8')
  // the collector (and its metrics) exists only after the dispatcher is made
  const late: { metrics?: CollectorMetrics } = {}
  const dispatcher =
    options.alertSinks && options.alertSinks.length > 0
      ? new AlertDispatcher(options.alertSinks, {
          onError: (sink, error) => {
            late.metrics?.alertSinkErrors.inc({ sink })
            options.log?.(`alert sink ${sink}: ${error.message} (retrying with backoff)`)
          },
          onDrop: (sink, n) => late.metrics?.alertsDropped.inc({ sink }, n),
        })
      : undefined
  const collector = await Collector.start({ ...options, detector: options.rules && options.rules.length > 0 ? new Detector(options.rules) : undefined, alerts: dispatcher })
  late.metrics = collector.metrics
  let server: FastifyInstance
  try {
    server = await createServer(collector, {
      host: options.listen.host,
      port: options.listen.port,
      defaultCluster: options.defaultCluster,
      tls,
      clientCa,
      tokens: options.tokens,
      insecure: options.insecure,
      publicMetrics: options.publicMetrics,
      bodyLimitBytes: options.bodyLimitBytes,
      maxInFlightBytes: options.maxInFlightBytes,
      maxBatchItems: options.maxBatchItems,
      maxConnections: options.maxConnections,
    })
  } catch (error) {
    await collector.stop()
    throw error
  }
  const followers = (options.follow ?? []).map(
    (spec) => new Follower(spec, collector, { checkpointPath: join(options.dataDir, 'follow-checkpoints.json'), from: options.followFrom, log: options.log, maxLineBytes: options.bodyLimitBytes }),
  )
  for (const f of followers) f.start()
  const address = server.server.address()
  const port = typeof address === 'object' && address ? address.port : options.listen.port
  const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host
  return {
    url: `${tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    collector,
    server,
    madeCa,
    caFile,
    async stop() {
      for (const f of followers) await f.stop()
      await server.close()
      await collector.stop()
    },
  }
}
