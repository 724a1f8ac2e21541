/**
 * @module `kubetrail serve`: the collector. Receives the apiserver's webhook backend over HTTPS
 * and follows audit.log files, acknowledging only what is durable, until SIGINT/SIGTERM.
 */
import { resolve } from 'node:path'
import { defineCommand, DATA_DIR_OPTION, KUBERNETES_VERSION_OPTION } from '../command.js'
import { UsageError } from '../../core/errors.js'
import { checkClusterFlag } from '../../core/cluster.js'
import { LineQueue } from '../../core/line-queue.js'
import { resolveDataDir } from '../../store/index.js'
import type { PolicyEvaluator } from '../../policy/index.js'
import type { Alert } from '../../detect/index.js'

interface ServeOptions {
  listen: string
  cluster: string
  follow?: string[]
  followFrom: string
  tlsCert?: string
  tlsKey?: string
  tlsSan?: string[]
  clientCa?: string
  tokenFile?: string
  insecure?: boolean
  publicMetrics?: boolean
  policy?: string
  kubernetesVersion?: string
  redact: boolean
  maxBody: string
  maxBatchItems: string
  maxConnections: string
  maxBacklog: string
  sealThread?: boolean
  dataDir?: string
  detect: boolean
  rules?: string[]
  alertLog: boolean
  alertWebhook?: string
  alertSlack?: string
  alertmanager?: string
  logFormat?: string
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) throw new UsageError(`--listen "${value}": use HOST:PORT, e.g. 0.0.0.0:8443 or 127.0.0.1:8443`)
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
}

export default defineCommand<ServeOptions>({
  path: ['serve'],
  summary: 'run the collector: receive the apiserver webhook over HTTPS and follow audit.log files, into the store',
  description:
    'A 2xx reply means every accepted event is durable (fsynced write-ahead log); the store commits it within seconds\n' +
    'and queries see it then. Without --tls-cert, a private CA and certificates are made in <data-dir>/tls/ and the\n' +
    "apiserver's client certificate from `kubetrail webhook-config` is accepted. Secret values are redacted by default.\n" +
    'Endpoints: POST /v1/clusters/<name>/events, POST /v1/events (--cluster), GET /metrics, /livez, /readyz.\n' +
    'Roles (each credential holds one; credentials are checked before a body is read):\n' +
    '  ingest   POST events, optionally only for named clusters\n' +
    '  metrics  GET /metrics (Prometheus)\n' +
    '  query    the read API under /api/v1\n' +
    '--token-file: one token per line, "TOKEN ROLE [CLUSTER...]", e.g. "$(openssl rand -base64 32) ingest prod-eu"; a\n' +
    'token alone may only ingest. Placeholders and tokens under 32 characters or too regular are refused.\n' +
    'Client certificates: roles from the subject\'s O values kubetrail:ingest, kubetrail:metrics, kubetrail:query and\n' +
    'kubetrail:cluster:<name> (limits ingest); a certificate with none of them may only ingest (the apiserver\'s).\n' +
    'See docs/security.md.',
  args: [],
  options: [
    { flags: '--listen <host:port>', description: 'address to listen on', default: '127.0.0.1:8443' },
    { flags: '--cluster <name>', description: 'cluster name for /v1/events and followed files', default: 'default' },
    { flags: '--follow <path>', description: 'follow this audit.log across rotation (repeatable)', repeatable: true },
    { flags: '--follow-from <where>', description: 'without a checkpoint, read a followed file from its start or only new lines', default: 'start', choices: ['start', 'end'] },
    { flags: '--tls-cert <file>', description: 'server certificate (PEM); default: made in <data-dir>/tls/' },
    { flags: '--tls-key <file>', description: 'server key (PEM)' },
    { flags: '--tls-san <name>', description: 'extra host name or IP for the generated server certificate (repeatable)', repeatable: true },
    { flags: '--client-ca <file>', description: 'accept client certificates signed by these CAs (default: the generated CA)' },
    { flags: '--token-file <file>', description: 'bearer tokens and their roles: "TOKEN ROLE [CLUSTER...]" per line (see above)' },
    { flags: '--insecure', description: 'accept requests without authentication, over plain HTTP unless --tls-cert is given (tests only)' },
    { flags: '--public-metrics', description: 'serve /metrics without authentication' },
    { flags: '--policy <file>', description: 'a kubetrail-side audit policy: drop or trim events before they are stored' },
    KUBERNETES_VERSION_OPTION,
    { flags: '--no-redact', description: 'store Secret data, tokens and credentials as received (not recommended)' },
    { flags: '--no-detect', description: 'no live detection (default: the built-in rules, or --rules, on every stored event)' },
    { flags: '--rules <path>', description: 'detection rule files or directories instead of the built-in pack (repeatable)', repeatable: true },
    { flags: '--no-alert-log', description: 'do not print alerts in the collector log (they are still recorded: kubetrail alerts)' },
    { flags: '--log-format <format>', description: 'text: alerts as one-line summaries; json: every line a JSON object (default: text on a terminal, else alerts as JSON)', choices: ['text', 'json'] },
    { flags: '--alert-webhook <url>', description: 'POST alerts as JSON to this URL' },
    { flags: '--alert-slack <url>', description: 'send alerts to a Slack-compatible incoming webhook' },
    { flags: '--alertmanager <url>', description: 'send alerts to Alertmanager (v2 API), e.g. http://alertmanager:9093' },
    { flags: '--max-body <bytes>', description: 'largest accepted request body (the apiserver sends 400 events, about 0.5 MB), and longest followed line', default: String(32 * 1024 * 1024) },
    { flags: '--max-batch-items <n>', description: 'most events in one request body (the apiserver sends --audit-webhook-batch-max-size, 400 by default); more: 413', default: '5000' },
    { flags: '--max-connections <n>', description: 'connections open at once (each costs memory; the apiserver keeps a few)', default: '256' },
    { flags: '--seal-thread', description: 'commit to the store in a thread of its own: more sustained throughput (12.0-17.8k against 9.9-12.7k events/s, measured) for ~15-35 MB more memory (RSS 297-319 MB)' },
    {
      flags: '--max-backlog <bytes>',
      description: 'acknowledged events not yet in the store (write-ahead log) beyond which requests get 429 until the store catches up',
      default: String(512 * 1024 * 1024),
    },
    DATA_DIR_OPTION,
  ],
  examples: [
    'kubetrail serve --listen 0.0.0.0:8443 --tls-san kubetrail.audit.svc',
    'kubetrail serve --follow /var/log/kubernetes/audit/audit.log --cluster prod-eu',
    'kubetrail serve --token-file /etc/kubetrail/tokens --policy /etc/kubetrail/central-policy.yaml',
  ],
  async handler(_args, opts, ctx) {
    checkClusterFlag(opts.cluster)
    if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together')
    const maxBody = Number(opts.maxBody)
    if (!Number.isInteger(maxBody) || maxBody < 1024) throw new UsageError(`--max-body must be a number of bytes (>= 1024), not "${opts.maxBody}"`)
    const maxBatchItems = Number(opts.maxBatchItems)
    if (!Number.isInteger(maxBatchItems) || maxBatchItems < 1) throw new UsageError(`--max-batch-items must be a positive integer, not "${opts.maxBatchItems}"`)
    const maxConnections = Number(opts.maxConnections)
    if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new UsageError(`--max-connections must be a positive integer, not "${opts.maxConnections}"`)
    const maxBacklog = Number(opts.maxBacklog)
    if (!Number.isInteger(maxBacklog) || maxBacklog < 1 << 20) throw new UsageError(`--max-backlog must be a number of bytes (>= 1048576), not "${opts.maxBacklog}"`)
    const dataDir = resolveDataDir(opts.dataDir, ctx.cwd)
    // loaded here, not at the top: other commands start without the collector's dependencies
    const { readTokenFile, startCollector } = await import('../../collector/index.js')
    let policy: PolicyEvaluator | undefined
    if (opts.policy) {
      const { compilePolicy, loadPolicyFile, parseKubernetesVersion } = await import('../../policy/index.js')
      const version = opts.kubernetesVersion ? parseKubernetesVersion(opts.kubernetesVersion) : undefined
      const loaded = await loadPolicyFile(resolve(ctx.cwd, opts.policy), { kubernetesVersion: version })
      policy = compilePolicy(loaded.policy, { kubernetesVersion: version })
    }
    // on a terminal a person reads the log: alerts as one line each; else (or --log-format json) JSON for machines
    const logFormat = opts.logFormat ?? (ctx.isTTY ? 'text' : 'auto')
    const queue = new LineQueue()
    const log = {
      push: (line: string) => queue.push(logFormat === 'json' ? JSON.stringify({ time: new Date().toISOString(), msg: line }) : line),
      close: () => queue.close(),
    }
    const { alertLine } = await import('../alert-output.js')
    const { alertId } = await import('../../detect/index.js')
    const alertLog = (alerts: readonly Alert[]) => {
      for (const a of alerts)
        queue.push(logFormat === 'text' ? `${new Date().toISOString()} ${alertLine(a)}` : JSON.stringify({ ...(logFormat === 'json' ? { time: new Date().toISOString() } : {}), alert: a.rule, id: alertId(a), ...a }))
    }
    const tokenFile = opts.tokenFile ? readTokenFile(resolve(ctx.cwd, opts.tokenFile)) : undefined
    for (const w of tokenFile?.warnings ?? []) log.push(`WARNING: ${w}`)
    let rules
    if (opts.detect) {
      const { BUILTIN_RULES_FILE, loadRuleFiles } = await import('../../detect/index.js')
      const { formatIssue } = await import('../../core/errors.js')
      const loaded = loadRuleFiles(opts.rules?.length ? opts.rules.map((r) => resolve(ctx.cwd, r)) : [BUILTIN_RULES_FILE])
      for (const issue of loaded.issues) log.push(`rule skipped: ${formatIssue(issue)}`)
      rules = loaded.rules
    }
    const { alertmanagerSink, slackSink, webhookSink } = await import('../../detect/index.js')
    const alertSinks = [
      ...(opts.alertLog ? [{ name: 'log', send: async (alerts: Alert[]) => alertLog(alerts) }] : []),
      ...(opts.alertWebhook ? [webhookSink(opts.alertWebhook)] : []),
      ...(opts.alertSlack ? [slackSink(opts.alertSlack)] : []),
      ...(opts.alertmanager ? [alertmanagerSink(opts.alertmanager)] : []),
    ]
    const running = await startCollector({
      rules,
      alertSinks,
      dataDir,
      listen: parseListen(opts.listen),
      defaultCluster: opts.cluster,
      follow: (opts.follow ?? []).map((p) => ({ path: resolve(ctx.cwd, p), cluster: opts.cluster })),
      followFrom: opts.followFrom as 'start' | 'end',
      tlsCertFile: opts.tlsCert && resolve(ctx.cwd, opts.tlsCert),
      tlsKeyFile: opts.tlsKey && resolve(ctx.cwd, opts.tlsKey),
      tlsNames: opts.tlsSan,
      clientCaFile: opts.clientCa && resolve(ctx.cwd, opts.clientCa),
      tokens: tokenFile?.tokens,
      insecure: opts.insecure,
      plainHttp: opts.insecure && !opts.tlsCert,
      publicMetrics: opts.publicMetrics,
      policy,
      redact: opts.redact,
      bodyLimitBytes: maxBody,
      maxBatchItems,
      maxConnections,
      maxPendingBytes: maxBacklog,
      sealInThread: opts.sealThread,
      log: (line) => log.push(logFormat === 'json' ? line : `${new Date().toISOString()} ${line}`),
    })
    // read commands (query, who, …) of this store are answered here, on a reader kept open
    const { serveQueries } = await import('../query-socket.js')
    const stopQueries = await serveQueries(dataDir, (line) => log.push(line)).catch((error: unknown) => {
      log.push(`not answering queries on a socket: ${(error as Error).message} (commands read the store themselves)`)
      return async () => {}
    })
    if (opts.insecure) log.push('WARNING: --insecure: anyone who can reach this port can write audit events. Use it for tests only.')
    log.push(`kubetrail collector ready: ${running.url}/v1/clusters/<cluster>/events (store: ${dataDir})`)
    if (running.caFile) {
      log.push(`CA for the apiserver's kubeconfig: ${running.caFile}${running.madeCa ? ' (new: run `kubetrail webhook-config` again)' : ''}`)
      const { tlsPaths } = await import('../../collector/index.js')
      const own = tlsPaths(dataDir)
      if (!opts.clientCa) log.push(`client certificate for replay and the apiserver: ${own.clientCert}, key ${own.clientKey} (\`kubetrail replay\` and \`kubetrail webhook-config\` use them by default)`)
    }
    if (!opts.redact) log.push('WARNING: --no-redact: Secret values and tokens are stored as received.')
    if (rules) log.push(`live detection: ${rules.length} rule(s); alerts recorded in ${dataDir}/alerts.ndjson${alertSinks.length > 0 ? ` and sent to ${alertSinks.map((s) => s.name).join(', ')}` : ''}`)
    for (const f of opts.follow ?? []) log.push(`following ${resolve(ctx.cwd, f)} as cluster ${opts.cluster}`)
    const stopped = new Promise<void>((done) => {
      const stop = () => {
        log.push('stopping: committing what the write-ahead log holds')
        Promise.all([stopQueries(), running.stop()]).then(
          () => {
            log.push('stopped')
            log.close()
            done()
          },
          (error: unknown) => {
            log.push(`stopped with an error: ${(error as Error).message}`)
            log.close()
            done()
          },
        )
      }
      if (ctx.signal?.aborted) stop()
      else ctx.signal?.addEventListener('abort', stop, { once: true })
    })
    void stopped
    return { output: queue }
  },
})
