/**
 * @module `kubetrail webhook-config`: the kubeconfig for the apiserver's
 * `--audit-webhook-config-file`, with the collector's CA and the apiserver's client certificate
 * filled in, and the webhook flags sized for the expected event rate.
 */
import { chmodSync, fstatSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineCommand, DATA_DIR_OPTION } from '../command.js'
import { UsageError } from '../../core/errors.js'
import { checkClusterFlag } from '../../core/cluster.js'
import { resolveDataDir } from '../../store/index.js'

interface WebhookConfigOptions {
  url: string
  cluster?: string
  expectedRate: string
  caFile?: string
  clientCert?: string
  clientKey?: string
  file?: string
  dataDir?: string
}

/**
 * A warning when standard output is a regular file others may read (`> webhook.kubeconfig` under
 * the usual umask 022): the kubeconfig holds a private key.
 */
export function stdoutExposure(fd = 1): string | undefined {
  let mode: number
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) return undefined
    mode = st.mode
  } catch {
    return undefined
  }
  if ((mode & 0o077) === 0) return undefined
  return `WARNING: standard output is a file other users may read (mode ${(mode & 0o777).toString(8)}), and it now holds a private key: chmod 600 it, or use --file (written 0600).`
}

/** The apiserver's webhook batch settings for a sustained rate (events/s), and why. */
export function webhookFlags(rate: number): Array<{ flag: string; reason: string }> {
  const maxSize = 400
  // batches per second at full batches, doubled for bursts; the apiserver default is 10 QPS
  const qps = Math.max(10, Math.ceil((rate / maxSize) * 2))
  // 30 s of events absorbs a collector restart without dropping (the default buffer is 10000)
  const buffer = Math.max(10_000, Math.ceil(rate * 30))
  return [
    { flag: '--audit-webhook-mode=batch', reason: 'requests never wait for the collector (blocking adds its latency to every API call)' },
    { flag: `--audit-webhook-batch-max-size=${maxSize}`, reason: 'the default; fewer, larger requests' },
    { flag: '--audit-webhook-batch-max-wait=5s', reason: 'the default 30s leaves queries half a minute behind and loses up to 30s of events on an apiserver crash' },
    { flag: `--audit-webhook-batch-throttle-qps=${qps}`, reason: `${rate} events/s in ${maxSize}-event batches is ${(rate / maxSize).toFixed(1)} batches/s; twice that absorbs bursts` },
    { flag: `--audit-webhook-batch-throttle-burst=${qps * 2}`, reason: 'catching up after a pause' },
    { flag: `--audit-webhook-batch-buffer-size=${buffer}`, reason: 'about 30 s of events: a collector restart does not overflow the buffer (overflow = events dropped)' },
    { flag: '--audit-webhook-initial-backoff=5s', reason: 'the 5 retries then span about 40 s instead of 2 minutes at the 10s default' },
  ]
}

export default defineCommand<WebhookConfigOptions>({
  path: ['webhook-config'],
  summary: "print the apiserver's --audit-webhook-config-file kubeconfig for this collector, and the flags to use",
  description:
    "The kubeconfig carries the collector's CA and a client certificate the collector accepts (both from\n" +
    '<data-dir>/tls/, made if missing, as `kubetrail serve` does). It holds a private key: --file writes it 0600\n' +
    '(and prints only the flags); printed to a file others may read, a warning says so.',
  args: [],
  options: [
    { flags: '--url <url>', description: "the collector's address as the apiserver reaches it, e.g. https://kubetrail.audit.svc:8443" },
    { flags: '--cluster <name>', description: 'cluster name: appended to the URL path (/v1/clusters/<name>/events)' },
    { flags: '--expected-rate <events/s>', description: 'sustained audit events per second, to size the batch flags', default: '500' },
    { flags: '--ca-file <file>', description: "the collector's CA when it uses your own --tls-cert" },
    { flags: '--client-cert <file>', description: 'client certificate for the apiserver (default: the generated one)' },
    { flags: '--client-key <file>', description: 'its key' },
    { flags: '--file <path>', description: 'write the kubeconfig to this file, mode 0600 (it holds a private key), and print only the flags' },
    DATA_DIR_OPTION,
  ],
  examples: [
    'kubetrail webhook-config --url https://10.0.0.5:8443 --cluster prod-eu --file /etc/kubernetes/audit/webhook.kubeconfig',
    'kubetrail webhook-config --url https://kubetrail.audit.svc:8443 --expected-rate 3000',
  ],
  async handler(_args, opts, ctx) {
    if (!opts.url) throw new UsageError('--url is required: the address the apiserver uses to reach the collector')
    let url: URL
    try {
      url = new URL(opts.url)
    } catch {
      throw new UsageError(`--url "${opts.url}" is not a URL`)
    }
    if (url.protocol !== 'https:') throw new UsageError(`--url must be https:// (client-go sends no credentials over plain HTTP), not ${url.protocol}`)
    const rate = Number(opts.expectedRate)
    if (!Number.isFinite(rate) || rate <= 0) throw new UsageError(`--expected-rate must be a positive number of events per second, not "${opts.expectedRate}"`)
    if (opts.cluster) checkClusterFlag(opts.cluster)
    const dataDir = resolveDataDir(opts.dataDir, ctx.cwd)
    const { ensureTls, tlsPaths } = await import('../../collector/index.js')
    const { stringify } = await import('yaml')
    const own = tlsPaths(dataDir)
    if (!opts.caFile || !opts.clientCert) ensureTls(dataDir, [url.hostname])
    const b64 = (file: string) => Buffer.from(readFileSync(resolve(ctx.cwd, file))).toString('base64')
    const path = opts.cluster ? `/v1/clusters/${opts.cluster}/events` : url.pathname === '/' ? '/v1/events' : url.pathname
    const server = `${url.origin}${path}`
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kubetrail', cluster: { server, 'certificate-authority-data': b64(opts.caFile ?? own.caCert) } }],
      users: [{ name: 'kube-apiserver', user: { 'client-certificate-data': b64(opts.clientCert ?? own.clientCert), 'client-key-data': b64(opts.clientKey ?? own.clientKey) } }],
      contexts: [{ name: 'kubetrail', context: { cluster: 'kubetrail', user: 'kube-apiserver' } }],
      'current-context': 'kubetrail',
    }
    const flags = webhookFlags(rate)
    const comment = [
      `# kubeconfig for kube-apiserver --audit-webhook-config-file (made by kubetrail webhook-config)`,
      `# Keep it private (it holds a client key): chmod 600, root-owned.`,
      `# kube-apiserver flags for ${rate} events/s:`,
      `#   --audit-webhook-config-file=<this file>`,
      ...flags.map((f) => `#   ${f.flag.padEnd(44)} # ${f.reason}`),
    ]
    const text = `${comment.join('\n')}\n${stringify(kubeconfig)}`
    if (opts.file) {
      const path = resolve(ctx.cwd, opts.file)
      // mode applies only to a new file: an existing one is narrowed first, before the key is in it
      try {
        chmodSync(path, 0o600)
      } catch {
        // not there yet
      }
      writeFileSync(path, text, { mode: 0o600 })
      return { output: `wrote ${path} (mode 600)\n${comment.slice(2).join('\n')}\n` }
    }
    const exposed = stdoutExposure()
    return { output: text, warnings: exposed ? [exposed] : [] }
  },
})
