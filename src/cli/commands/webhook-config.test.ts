import { spawnSync } from 'node:child_process'
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { REPO_ROOT } from '../../../test/support/fixtures.js'

const ctx = (cwd: string) => ({ stdin: new PassThrough(), cwd, isTTY: false })

describe('kubetrail webhook-config', () => {
  it('--file writes the kubeconfig (with its private key) at mode 600, even over a readable file, and prints only the flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-whc-'))
    writeFileSync(join(dir, 'webhook.kubeconfig'), 'old', { mode: 0o644 })
    chmodSync(join(dir, 'webhook.kubeconfig'), 0o644)
    const r = await invoke(['webhook-config', '--url', 'https://10.0.0.5:8443', '--cluster', 'prod', '--file', 'webhook.kubeconfig', '--data-dir', join(dir, 'data')], ctx(dir))
    const out = await collectOutput(r.result!)
    expect(out).toMatch(/^wrote .*webhook\.kubeconfig \(mode 600\)/)
    expect(out).toContain('--audit-webhook-batch-max-size=400')
    expect(out).not.toMatch(/client-key-data|PRIVATE KEY/)
    expect(statSync(join(dir, 'webhook.kubeconfig')).mode & 0o777).toBe(0o600)
    const config = parse(readFileSync(join(dir, 'webhook.kubeconfig'), 'utf8')) as { clusters: Array<{ cluster: { server: string } }>; users: Array<{ user: Record<string, string> }> }
    expect(config.clusters[0]!.cluster.server).toBe('https://10.0.0.5:8443/v1/clusters/prod/events')
    expect(Buffer.from(config.users[0]!.user['client-key-data']!, 'base64').toString()).toMatch(/PRIVATE KEY/)
  })

  it('warns when standard output is a file others may read (`> webhook.kubeconfig` under umask 022), not when it is private', () => {
    const cli = resolve(REPO_ROOT, 'dist/cli/main.js')
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-whc-'))
    const run = (mode: number) => {
      const file = join(dir, `out-${mode.toString(8)}`)
      const fd = openSync(file, 'w', mode)
      try {
        const r = spawnSync(process.execPath, [cli, 'webhook-config', '--url', 'https://10.0.0.5:8443', '--data-dir', join(dir, 'data')], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' })
        expect(r.status).toBe(0)
        expect(readFileSync(file, 'utf8')).toMatch(/client-key-data/)
        return r.stderr
      } finally {
        closeSync(fd)
      }
    }
    expect(run(0o644)).toMatch(/standard output is a file other users may read \(mode 644\), and it now holds a private key: chmod 600 it, or use --file/)
    expect(run(0o600)).toBe('')
  })
})
