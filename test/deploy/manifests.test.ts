/**
 * The deployment files agree with the CLI: every `serve` flag they use exists, every path a flag
 * names is mounted, probes and the Service hit the container port.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import serve from '../../src/cli/commands/serve.js'

const ROOT = resolve(import.meta.dirname, '../..')
const serveFlags = new Set(serve.options.map((o) => /--[a-z-]+/.exec(o.flags)![0]))

describe('deploy/kubernetes/kubetrail.yaml', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form manifests
  const docs = parseAllDocuments(readFileSync(resolve(ROOT, 'deploy/kubernetes/kubetrail.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>)
  const deployment = docs.find((d) => d['kind'] === 'Deployment')!
  const pod = deployment['spec']['template']['spec']
  const container = pod['containers'][0]

  it('runs `kubetrail serve` with flags that exist, on paths that are mounted', () => {
    expect(container.args[0]).toBe('serve')
    const mounts: Array<{ mountPath: string; name: string }> = container.volumeMounts
    for (const arg of container.args.slice(1) as string[]) {
      const [flag, value] = arg.split('=')
      expect(serveFlags.has(flag!), flag).toBe(true)
      if (value?.startsWith('/')) expect(mounts.some((m) => value.startsWith(m.mountPath)), `${arg} is not on a mounted volume`).toBe(true)
    }
    for (const m of mounts) expect(pod.volumes.some((v: { name: string }) => v.name === m.name), m.name).toBe(true)
    expect(pod.volumes.find((v: { name: string }) => v.name === 'data').persistentVolumeClaim.claimName).toBe(docs.find((d) => d['kind'] === 'PersistentVolumeClaim')!['metadata']['name'])
  })

  it('ships a token file with one role per token (Prometheus gets metrics, not ingest), whose placeholder serve refuses', async () => {
    const { readTokenFile } = await import('../../src/collector/index.js')
    const secret = docs.find((d) => d['kind'] === 'Secret' && d['metadata']['name'] === 'kubetrail-tokens')!
    const lines = (secret['stringData']['tokens'] as string).split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) expect(line.trim().split(/\s+/)[1], line).toBe('metrics')
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === 'tokens')
    expect(container.args).toContain(`--token-file=${mount.mountPath}/tokens`)
    const { mkdtempSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const file = resolve(mkdtempSync(resolve(tmpdir(), 'kubetrail-manifest-')), 'tokens')
    writeFileSync(file, secret['stringData']['tokens'], { mode: 0o600 })
    expect(() => readTokenFile(file)).toThrow(expect.objectContaining({ code: 'KT_TOKEN_WEAK' }))
    // with the placeholder replaced as its comment says, it is a valid token file
    writeFileSync(file, (secret['stringData']['tokens'] as string).replace('REPLACE-WITH-A-RANDOM-TOKEN', 'u8Xq2Wz5Lr9Nc3Vt7Bm1Kd4Fg6Hj0Ps+Ya/EeRi='), { mode: 0o600 })
    expect(readTokenFile(file).tokens.map((t) => t.role)).toEqual(['metrics'])
  })

  it('has one replica that never overlaps another (one writer per store)', () => {
    expect(deployment['spec']['replicas']).toBe(1)
    expect(deployment['spec']['strategy']['type']).toBe('Recreate')
  })

  it('probes and serves the port the collector listens on', () => {
    const port = Number(/:(\d+)$/.exec(container.args.find((a: string) => a.startsWith('--listen=')))![1])
    expect(container.ports[0].containerPort).toBe(port)
    expect(container.readinessProbe.httpGet.path).toBe('/readyz')
    expect(container.livenessProbe.httpGet.path).toBe('/livez')
    const service = docs.find((d) => d['kind'] === 'Service')!
    expect(service['spec']['ports'][0]['targetPort']).toBe(container.ports[0].name)
    expect(service['spec']['selector']).toEqual(deployment['spec']['selector']['matchLabels'])
  })
})

describe('deploy/systemd/kubetrail.service', () => {
  it('starts `kubetrail serve` with flags that exist and stops it with SIGTERM', () => {
    const unit = readFileSync(resolve(ROOT, 'deploy/systemd/kubetrail.service'), 'utf8')
    const exec = /ExecStart=([^\n]*(?:\\\n[^\n]*)*)/.exec(unit)![1]!.replace(/\\\n/g, ' ')
    expect(exec).toMatch(/kubetrail serve /)
    for (const [flag] of exec.matchAll(/--[a-z-]+/g)) expect(serveFlags.has(flag), flag).toBe(true)
    expect(unit).toMatch(/KillSignal=SIGTERM/)
    expect(unit).toMatch(/UMask=0077/)
  })
})
