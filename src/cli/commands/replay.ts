/**
 * @module `kubetrail replay FILE --to URL`: sends a recorded audit log to a collector the way
 * the apiserver's webhook backend does (EventList batches of up to 400 items without their own
 * kind/apiVersion, retried on 429/5xx with backoff), for trying kubetrail without a cluster.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { defineCommand, DATA_DIR_OPTION } from '../command.js'
import { KubetrailError, UsageError } from '../../core/errors.js'
import { post, type HttpCredentials } from '../../core/http.js'
import type { MalformedLine } from '../../ingest/index.js'
import { resolveDataDir } from '../../store/index.js'

interface ReplayOptions {
  to: string
  batchSize: string
  caFile?: string
  clientCert?: string
  clientKey?: string
  tokenFile?: string
  dataDir?: string
}

/** -o json: what was sent and what the collector accepted. */
const REPLAY_SCHEMA = Type.Object(
  {
    url: Type.String(),
    sent: Type.Integer({ minimum: 0 }),
    accepted: Type.Integer({ minimum: 0 }),
    requests: Type.Integer({ minimum: 0 }),
    seconds: Type.Number(),
    malformed: Type.Integer({ minimum: 0 }),
    rejected: Type.Array(Type.String({ description: 'HTTP status and the start of the reply, for the first few refused requests' })),
  },
  { additionalProperties: false },
)

/** The apiserver's webhook retry: 5 attempts with exponential backoff on 429, 5xx and connection errors. */
async function sendWithRetry(url: URL, body: string, creds: HttpCredentials): Promise<{ status: number; body: string }> {
  let delay = 250
  let last: { status: number; body: string } | Error = new Error('not sent')
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const r = await post(url, body, creds)
      if (r.status < 500 && r.status !== 429) return r
      last = r
      if (r.retryAfter && Number(r.retryAfter) > 0) delay = Math.min(Number(r.retryAfter) * 1000, 30_000)
    } catch (error) {
      last = error as Error
    }
    await new Promise((w) => setTimeout(w, delay))
    delay = Math.min(delay * 1.5, 30_000)
  }
  if (last instanceof Error) throw new KubetrailError('KT_REPLAY_FAILED', `could not reach ${url.origin}: ${last.message}`, { hint: 'Is `kubetrail serve` running at that address?' })
  return last
}

export default defineCommand<ReplayOptions>({
  path: ['replay'],
  summary: 'send a recorded audit log to a collector as the apiserver webhook would (EventList batches)',
  description:
    'Credentials default to the ones `kubetrail serve` made in <data-dir>/tls/ (its CA and the apiserver client\n' +
    'certificate), so replaying into a local collector needs no flags besides --to.',
  args: [{ name: '<file...>', description: 'audit logs (NDJSON, gzip, EventList, legacy), or - for stdin' }],
  options: [
    { flags: '--to <url>', description: 'collector URL, e.g. https://127.0.0.1:8443/v1/clusters/demo/events' },
    { flags: '--batch-size <n>', description: 'events per request (the apiserver sends up to 400)', default: '400' },
    { flags: '--ca-file <file>', description: "the collector's CA (default: <data-dir>/tls/ca.crt)" },
    { flags: '--client-cert <file>', description: 'client certificate (default: <data-dir>/tls/apiserver-client.crt)' },
    { flags: '--client-key <file>', description: 'its key' },
    { flags: '--token-file <file>', description: 'send the first token in this file as a bearer token instead' },
    DATA_DIR_OPTION,
  ],
  output: { schema: REPLAY_SCHEMA },
  examples: ['kubetrail replay examples/logs/real-apiserver-audit.log --to https://127.0.0.1:8443/v1/clusters/demo/events'],
  async handler(args, opts, ctx) {
    if (!opts.to) throw new UsageError('--to is required: the collector URL')
    let url: URL
    try {
      url = new URL(opts.to)
    } catch {
      throw new UsageError(`--to "${opts.to}" is not a URL`)
    }
    const batchSize = Number(opts.batchSize)
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size must be a positive integer, not "${opts.batchSize}"`)
    const { tlsPaths } = await import('../../collector/index.js')
    const { readRawEvents, formatMalformed } = await import('../../ingest/index.js')
    const own = tlsPaths(resolveDataDir(opts.dataDir, ctx.cwd))
    const read = (file: string | undefined, fallback: string) => {
      const path = file ? resolve(ctx.cwd, file) : fallback
      return file || existsSync(path) ? readFileSync(path, 'utf8') : undefined
    }
    const creds: HttpCredentials = { ca: read(opts.caFile, own.caCert) }
    if (opts.tokenFile) creds.token = readFileSync(resolve(ctx.cwd, opts.tokenFile), 'utf8').split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'))
    else {
      creds.cert = read(opts.clientCert, own.clientCert)
      creds.key = read(opts.clientKey, own.clientKey)
    }
    let sent = 0
    let accepted = 0
    let requests = 0
    const failures: string[] = []
    const malformed: MalformedLine[] = []
    const started = Date.now()
    let pending: string[] = []
    const flush = async () => {
      if (pending.length === 0) return
      // as the apiserver: items without kind/apiVersion
      const items = pending.map((json) => json.replace(/^\{"kind":"Event","apiVersion":"audit\.k8s\.io\/v1",/, '{'))
      const body = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items.join(',')}]}\n`
      const r = await sendWithRetry(url, body, creds)
      requests++
      sent += pending.length
      if (r.status === 200) accepted += (JSON.parse(r.body) as { accepted: number }).accepted
      else if (failures.length < 3) failures.push(`HTTP ${r.status}: ${r.body.slice(0, 200)}`)
      pending = []
      ctx.progress?.(`replaying: ${sent.toLocaleString('en-US')} events sent in ${requests} requests`)
    }
    for (const file of args) {
      for await (const batch of readRawEvents(file === '-' ? '-' : resolve(ctx.cwd, file), { stdin: ctx.stdin, onMalformed: (m) => malformed.push(m) })) {
        for (const e of batch) {
          pending.push(e.json)
          if (pending.length >= batchSize) await flush()
        }
      }
    }
    await flush()
    const secs = (Date.now() - started) / 1000
    const lines = [`replayed ${sent.toLocaleString('en-US')} events in ${requests} requests to ${url.origin}${url.pathname}: ${accepted.toLocaleString('en-US')} accepted in ${secs.toFixed(1)} s`]
    if (malformed.length > 0) lines.push(`${malformed.length} malformed line(s) not sent: ${malformed.slice(0, 3).map(formatMalformed).join('; ')}`)
    for (const f of failures) lines.push(`rejected: ${f}`)
    const data = { url: `${url.origin}${url.pathname}`, sent, accepted, requests, seconds: Math.round(secs * 1000) / 1000, malformed: malformed.length, rejected: failures }
    return { report: { data, text: () => lines.join('\n') + '\n' }, exitCode: failures.length > 0 || malformed.length > 0 ? 1 : 0 }
  },
})
