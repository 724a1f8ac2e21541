/**
 * Live detection in the collector, end to end: the real apiserver traffic arrives as webhook
 * batches, the built-in rules fire, and the alerts reach a real Alertmanager (Debian's
 * prometheus-alertmanager, started here), a generic webhook and a Slack-compatible webhook.
 * A sink that is down never holds up ingestion.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { freePort } from '../../test/support/net.js'
import { post } from '../core/http.js'
import { alertmanagerSink, builtinRules, slackSink, webhookSink } from '../detect/index.js'
import { startCollector } from './index.js'

const LINES = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n').filter(Boolean)

const children: ChildProcess[] = []
afterAll(() => {
  for (const c of children) c.kill('SIGTERM')
})

async function startAlertmanager(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-am-'))
  writeFileSync(join(dir, 'alertmanager.yml'), 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
  const port = await freePort()
  const child = spawn('prometheus-alertmanager', [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='], { stdio: ['ignore', 'ignore', 'pipe'] })
  children.push(child)
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`prometheus-alertmanager exited (is it installed? scripts/setup-system.sh): ${stderr.slice(-500)}`)
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return url
    } catch {
      // starting
    }
    await new Promise((w) => setTimeout(w, 50))
  }
  throw new Error(`prometheus-alertmanager did not become ready: ${stderr.slice(-500)}`)
}

/** A local HTTP endpoint that records what it receives. */
async function recorder(): Promise<{ url: string; bodies: unknown[]; close: () => void }> {
  const bodies: unknown[] = []
  const server = createHttpServer((req: IncomingMessage, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      bodies.push(JSON.parse(body))
      res.end('ok')
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, bodies, close: () => server.close() }
}

describe('live detection in kubetrail serve', () => {
  it('raises alerts from webhook traffic and delivers them to Alertmanager, a webhook and Slack; a dead sink blocks nothing', async () => {
    const alertmanager = await startAlertmanager()
    const hook = await recorder()
    const slack = await recorder()
    const deadPort = await freePort()
    const dataDir = join(mkdtempSync(join(tmpdir(), 'kubetrail-live-')), 'data')
    const running = await startCollector({
      dataDir,
      listen: { host: '127.0.0.1', port: 0 },
      defaultCluster: 'prod',
      insecure: true,
      plainHttp: true,
      rules: builtinRules(),
      alertSinks: [alertmanagerSink(alertmanager), webhookSink(hook.url), slackSink(slack.url), webhookSink(`http://127.0.0.1:${deadPort}/down`)],
    })
    const url = new URL(`${running.url}/v1/clusters/prod/events`)
    for (let i = 0; i < LINES.length; i += 400) {
      const items = LINES.slice(i, i + 400).map((l) => l.replace(/^\{"kind":"Event","apiVersion":"audit\.k8s\.io\/v1",/, '{'))
      const t0 = Date.now()
      const r = await post(url, `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items.join(',')}]}`, {})
      expect(r.status).toBe(200)
      expect(Date.now() - t0).toBeLessThan(3000) // the dead sink's retries run elsewhere
    }
    const privileged = LINES.map((l) => JSON.parse(l) as { auditID: string; objectRef?: { name?: string }; verb: string; stage: string }).find((e) => e.objectRef?.name === 'priv-pod' && e.verb === 'create' && e.stage === 'ResponseComplete')!
    // Alertmanager has the alerts, with our labels and the triggering auditID
    let amAlerts: Array<{ labels: Record<string, string>; annotations: Record<string, string> }> = []
    for (let i = 0; i < 100 && !amAlerts.some((a) => a.labels['rule'] === 'privileged-pod'); i++) {
      await new Promise((w) => setTimeout(w, 100))
      amAlerts = (await (await fetch(`${alertmanager}/api/v2/alerts`)).json()) as typeof amAlerts
    }
    const priv = amAlerts.find((a) => a.labels['rule'] === 'privileged-pod')!
    expect(priv.labels).toMatchObject({ severity: 'high', cluster: 'prod', source: 'kubetrail' })
    expect(priv.annotations['audit_id']).toBe(privileged.auditID)
    expect(priv.annotations['description']).toBe('admin create pods production/priv-pod: hostNetwork,privileged shell')
    expect(amAlerts.some((a) => a.labels['rule'] === 'cluster-admin-binding' && a.labels['severity'] === 'critical')).toBe(true)
    // the generic webhook and Slack got them too
    const hooked = hook.bodies.flatMap((b) => (b as { alerts: Array<{ rule: string; auditID: string }> }).alerts)
    expect(hooked.find((a) => a.rule === 'privileged-pod')?.auditID).toBe(privileged.auditID)
    expect(slack.bodies.map((b) => (b as { text: string }).text).join('\n')).toMatch(/\*Privileged pod or host namespaces\* \(high\) \[prod\] admin create pods production\/priv-pod/)
    // recorded in the data directory, each alert once
    const recorded = readFileSync(join(dataDir, 'alerts.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; rule: string })
    expect(new Set(recorded.map((a) => a.id)).size).toBe(recorded.length)
    expect(recorded.filter((a) => a.rule === 'privileged-pod')).toHaveLength(1)
    expect(await running.collector.metrics.registry.getSingleMetricAsString('kubetrail_alert_sink_errors_total')).toMatch(/sink="webhook"\} [1-9]/)
    expect(await running.collector.metrics.registry.getSingleMetricAsString('kubetrail_alerts_total')).toMatch(/rule="privileged-pod",severity="high"\} 1/)
    await running.stop()
    hook.close()
    slack.close()
  }, 60_000)
})
