import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { kubeadmNode } from '../../../test/support/node-tree.js'
import { PRESETS } from '../../policy/index.js'

async function run(args: string[]) {
  const r = await invoke(args, { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false })
  const out = r.result ? await collectOutput(r.result) : r.printed
  return { out, err: r.error ? renderError(r.error, false) : (r.result?.warnings ?? []).join('\n'), code: r.error ? r.exitCode : (r.result?.exitCode ?? 0) }
}

describe('kubetrail doctor / enable / disable (CLI)', () => {
  it('doctor prints each finding with evidence and fix, exits 2 on a failure; --json for machines', async () => {
    const t = kubeadmNode()
    const r = await run(['doctor', '--root', t.root])
    expect(r.code).toBe(2)
    expect(r.out).toMatch(/^FAIL {2}flags\.policy-file {2}no --audit-policy-file: the apiserver audits nothing \[CIS 3\.2\.1\]\n {6}\/etc\/kubernetes\/manifests\/kube-apiserver\.yaml {2}--audit-policy-file not set\n {6}fix: kubetrail enable --policy POLICY/m)
    expect(r.out).toMatch(/\d+ passed, \d+ warnings, [1-9]\d* failed, \d+ skipped\n$/)
    const json = JSON.parse((await run(['doctor', '--root', t.root, '--json'])).out) as { exitCode: number; findings: Array<{ id: string; status: string }> }
    expect(json.exitCode).toBe(2)
    expect(json.findings.find((f) => f.id === 'flags.backend')?.status).toBe('FAIL')
  })

  it('enable --dry-run shows the diff; enable writes and shows the backup; a second enable changes nothing; disable reverts', async () => {
    const t = kubeadmNode()
    const policy = join(t.root, '..', `policy-${Date.now()}.yaml`)
    writeFileSync(policy, PRESETS.find((p) => p.name === 'comprehensive')!.yaml)
    const original = t.read('/etc/kubernetes/manifests/kube-apiserver.yaml')
    const dry = await run(['enable', '--root', t.root, '--policy', policy, '--log-path', '/var/log/kubernetes/audit/audit.log', '--dry-run'])
    expect(dry.code).toBe(0)
    expect(dry.out).toMatch(/^\+ {4}- --audit-policy-file=\/etc\/kubernetes\/audit\/policy.yaml$/m)
    expect(dry.out).toMatch(/\(dry run: nothing was changed\)/)
    expect(t.read('/etc/kubernetes/manifests/kube-apiserver.yaml')).toBe(original)
    const on = await run(['enable', '--root', t.root, '--policy', policy, '--log-path', '/var/log/kubernetes/audit/audit.log'])
    expect(on.out).toMatch(/^backup of the previous manifest: \/etc\/kubernetes\/kubetrail-backups\/kube-apiserver\.yaml\.\S+ \(outside the manifests directory/m)
    expect(on.out).toMatch(/^kubeadm ClusterConfiguration patch/m)
    expect((await run(['enable', '--root', t.root, '--policy', policy, '--log-path', '/var/log/kubernetes/audit/audit.log'])).out).toMatch(/^nothing to change/)
    const off = await run(['disable', '--root', t.root])
    expect(off.out).toMatch(/^wrote \/etc\/kubernetes\/manifests\/kube-apiserver.yaml$/m)
    expect(t.read('/etc/kubernetes/manifests/kube-apiserver.yaml')).toBe(original)
  })

  it('enable refuses an invalid policy with its position, and a missing backend', async () => {
    const t = kubeadmNode()
    const bad = join(t.root, '..', `bad-${Date.now()}.yaml`)
    writeFileSync(bad, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Loud\n')
    const r = await run(['enable', '--root', t.root, '--policy', bad, '--log-path', '/var/log/kubernetes/audit/audit.log'])
    expect(r.code).not.toBe(0)
    expect(r.err).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: .*Loud`))
    const none = await run(['enable', '--root', t.root, '--policy', bad])
    expect(none.err).toMatch(/give a backend: --log-path PATH and\/or --webhook-config FILE/)
  })
})
