/**
 * `doctor`, `enable` and `disable` on realistic kubeadm node trees (test/support/node-tree.ts),
 * reproducing every failure the seeds describe.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { kubeadmNode, KUBEADM_APISERVER_MANIFEST, KUBEADM_CONFIG_V1BETA3, type NodeTree } from '../../test/support/node-tree.js'
import { clusterConfiguration, disableAudit, enableAudit, runDoctor, type Finding } from './index.js'
import { PRESETS } from '../policy/index.js'

// the project's comprehensive preset: valid, lint-clean, logs everything the doctor calls essential
const POLICY = PRESETS.find((p) => p.name === 'comprehensive')!.yaml
const LOG = '/var/log/kubernetes/audit/audit.log'
const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml'
const isRoot = process.getuid?.() === 0

const byId = (findings: Finding[], id: string) => findings.find((f) => f.id === id)
const doctor = (t: NodeTree, extra: Parameters<typeof runDoctor>[0] = {}) => runDoctor({ root: t.root, ...extra })

/** What kubelet and the apiserver do after `enable`: restart from the manifest, write events. */
function apiserverRunsAndLogs(t: NodeTree, ageMinutes = 1): void {
  t.restartApiserver()
  const at = new Date(Date.now() - ageMinutes * 60_000).toISOString().replace('Z', '000Z')
  const line = readFileSync(requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), 'utf8').split('\n')[0]!.replace(/"stageTimestamp":"[^"]+"/, `"stageTimestamp":"${at}"`)
  t.write(LOG, line + '\n', 0o600)
}

describe('kubetrail doctor', () => {
  it('on a fresh kubeadm node: no policy, no backend (FAIL), everything else explained', async () => {
    const t = kubeadmNode()
    const r = await doctor(t)
    expect(byId(r.findings, 'manifest')?.status).toBe('PASS')
    expect(byId(r.findings, 'static-pods')?.status).toBe('PASS')
    expect(byId(r.findings, 'flags.policy-file')).toMatchObject({ status: 'FAIL', refs: ['CIS 3.2.1'], evidence: [{ file: MANIFEST, value: '--audit-policy-file not set' }] })
    expect(byId(r.findings, 'flags.backend')?.status).toBe('FAIL')
    expect(r.exitCode).toBe(2)
  })

  it('after enable (and kubelet restarting the apiserver): every check passes', async () => {
    const t = kubeadmNode()
    enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    apiserverRunsAndLogs(t)
    const r = await doctor(t)
    const notPassing = r.findings.filter((f) => f.status !== 'PASS' && f.status !== 'SKIP')
    expect(notPassing).toEqual([])
    // the only acceptable skip: a file system without ext2 attributes
    for (const s of r.findings.filter((f) => f.status === 'SKIP')) expect(s.id).toBe('logs.attributes')
    expect(r.exitCode).toBe(0)
    for (const id of ['flags.maxage', 'flags.maxbackup', 'flags.maxsize', 'mounts.audit-policy-file', 'mounts.audit-log-path', 'logs.directory', 'process.flags', 'kubeadm.config', 'policy.coverage', 'logs.freshness']) expect(byId(r.findings, id)?.status, id).toBe('PASS')
  })

  it('the seeds\' incident: a stray kube-apiserver.yaml.bak runs instead of the edited manifest', async () => {
    const t = kubeadmNode()
    // the backup was made inside the manifests directory, then the real manifest was edited
    t.write('/etc/kubernetes/manifests/kube-apiserver.yaml.bak', KUBEADM_APISERVER_MANIFEST)
    t.restartApiserver('/etc/kubernetes/manifests/kube-apiserver.yaml.bak')
    expect(() => enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })).toThrow(/2 files in .* define the kube-apiserver pod/)
    // an edit by hand, as in the incident
    const edited = KUBEADM_APISERVER_MANIFEST.replace('    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n', `    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n    - --audit-policy-file=/etc/kubernetes/audit/policy.yaml\n    - --audit-log-path=${LOG}\n`)
    t.write(MANIFEST, edited)
    const r = await doctor(t)
    expect(byId(r.findings, 'static-pods.duplicate')).toMatchObject({ status: 'FAIL', evidence: [{ file: MANIFEST }, { file: '/etc/kubernetes/manifests/kube-apiserver.yaml.bak' }] })
    expect(byId(r.findings, 'static-pods.stray-file')?.fix).toMatch(/mv \/etc\/kubernetes\/manifests\/kube-apiserver.yaml.bak \/etc\/kubernetes\//)
    const proc = byId(r.findings, 'process.flags')!
    expect(proc.status).toBe('FAIL')
    expect(proc.title).toMatch(/lacks 2 audit flag\(s\)/)
    expect(proc.evidence[0]!.value).toMatch(/28 arguments \(manifest: 30\)/)
    expect(proc.evidence.map((e) => e.value)).toContain('--audit-policy-file=/etc/kubernetes/audit/policy.yaml: not in the running process')
  })

  it('flags pointing at unmounted paths: a crash-loop (policy) and events lost in the container (log)', async () => {
    const t = kubeadmNode()
    t.write(MANIFEST, KUBEADM_APISERVER_MANIFEST.replace('    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n', `    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n    - --audit-policy-file=/etc/kubernetes/audit-policy.yaml\n    - --audit-log-path=${LOG}\n    - --audit-log-maxage=7\n    - --audit-log-maxbackup=3\n`))
    const r = await doctor(t)
    expect(byId(r.findings, 'mounts.audit-policy-file')).toMatchObject({ status: 'FAIL', title: expect.stringMatching(/crash-loop/) })
    expect(byId(r.findings, 'mounts.audit-log-path')).toMatchObject({ status: 'FAIL', title: expect.stringMatching(/written inside the container and lost/) })
    expect(byId(r.findings, 'flags.maxage')).toMatchObject({ status: 'WARN', refs: ['CIS 1.2.17'] })
    expect(byId(r.findings, 'flags.maxbackup')).toMatchObject({ status: 'WARN', refs: ['CIS 1.2.18'] })
    expect(byId(r.findings, 'flags.maxsize')).toMatchObject({ status: 'FAIL', refs: ['CIS 1.2.19'] })
    expect(byId(r.findings, 'flags.maxage')!.evidence[0]).toMatchObject({ file: MANIFEST, line: 45, value: '--audit-log-maxage=7' })
  })

  it('log files others can read, a world-writable directory, and a pre-created 0644 file', async () => {
    const t = kubeadmNode()
    enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    apiserverRunsAndLogs(t)
    chmodSync(t.at('/var/log/kubernetes/audit'), 0o777)
    chmodSync(t.at(LOG), 0o644)
    t.write('/var/log/kubernetes/audit/audit-2026-11-22T21-06-58.206.log', '{}\n', 0o640)
    const r = await doctor(t)
    expect(byId(r.findings, 'logs.directory')).toMatchObject({ status: 'FAIL', evidence: [{ value: expect.stringMatching(/0777/) }] })
    const files = byId(r.findings, 'logs.files')!
    expect(files.status).toBe('FAIL')
    expect(files.evidence.map((e) => e.value)).toEqual([expect.stringMatching(/0640/), expect.stringMatching(/0644/)])
    expect(files.fix).toMatch(/keeps an existing file's mode/)
  })

  it.runIf(isRoot)('log files not owned by root', async () => {
    const t = kubeadmNode()
    enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    apiserverRunsAndLogs(t)
    chownSync(t.at(LOG), 1000, 1000)
    const r = await doctor(t)
    expect(byId(r.findings, 'logs.files')).toMatchObject({ status: 'FAIL', evidence: [{ value: expect.stringMatching(/uid 1000/) }] })
  })

  it('immutable or append-only attributes, read with lsattr, where the file system has them', async () => {
    const t = kubeadmNode()
    enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    apiserverRunsAndLogs(t)
    let settable = true
    try {
      execFileSync('chattr', ['+a', t.at(LOG)], { stdio: 'pipe' })
    } catch (error) {
      settable = false
      console.log(`attributes cannot be set here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()}): checking that the doctor says so`)
    }
    const r = await doctor(t)
    const f = byId(r.findings, 'logs.attributes')!
    if (settable) {
      execFileSync('chattr', ['-a', t.at(LOG)])
      expect(f).toMatchObject({ status: 'FAIL', evidence: [{ file: LOG, value: expect.stringMatching(/append-only/) }] })
      expect(f.fix).toMatch(/tampering/)
    } else {
      expect(f.status).toBe('SKIP')
      expect(f.title).toMatch(/cannot be read here/)
    }
  })

  it.runIf(isRoot || process.env['CI'] === 'true')('a log file system too small for the rotation settings', async () => {
    const t = kubeadmNode()
    enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', t.at('/var/log/kubernetes/audit')])
    try {
      apiserverRunsAndLogs(t)
      const r = await doctor(t)
      const f = byId(r.findings, 'logs.space')!
      expect(f.status).toBe('FAIL')
      expect(f.evidence.map((e) => e.value).join('\n')).toMatch(/rotation keeps at most 1153 MB \(maxsize 100 MB × 11 files\)/)
    } finally {
      execFileSync('umount', ['-l', t.at('/var/log/kubernetes/audit')])
    }
  })

  it('kubeadm-config without the audit flags: kubeadm upgrade would drop them (v1beta3 and v1beta4)', async () => {
    for (const cfg of [undefined, KUBEADM_CONFIG_V1BETA3]) {
      const t = kubeadmNode({ kubeadmConfig: cfg })
      const original = t.read('/etc/kubernetes/kubeadm-config.yaml')
      enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
      apiserverRunsAndLogs(t)
      expect(byId((await doctor(t)).findings, 'kubeadm.config')?.status).toBe('PASS')
      t.write('/etc/kubernetes/kubeadm-config.yaml', original)
      const f = byId((await doctor(t)).findings, 'kubeadm.config')!
      expect(f.status).toBe('WARN')
      expect(f.title).toMatch(cfg ? /v1beta3/ : /v1beta4/)
      expect(f.evidence.map((e) => e.value)).toContain('apiServer.extraArgs: audit-log-path=/var/log/kubernetes/audit/audit.log missing')
    }
  })

  it('an invalid policy (the apiserver will not start) and one that misses what must be logged', async () => {
    const t = kubeadmNode()
    enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    apiserverRunsAndLogs(t)
    t.write('/etc/kubernetes/audit/policy.yaml', 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n')
    const bad = byId((await doctor(t)).findings, 'policy.file')!
    expect(bad).toMatchObject({ status: 'FAIL', evidence: [{ file: '/etc/kubernetes/audit/policy.yaml', line: 4 }] })
    t.write('/etc/kubernetes/audit/policy.yaml', 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n- level: None\n  resources: [{group: "", resources: [secrets]}]\n- level: Metadata\n')
    const cov = byId((await doctor(t)).findings, 'policy.coverage')!
    expect(cov.status).toBe('WARN')
    expect(cov.title).toMatch(/secret reads, exec into pods \(create\), exec into pods over WebSocket \(get\), failed logins \(401\)/)
  })

  it('a stale log: the newest event is old', async () => {
    const t = kubeadmNode()
    enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    apiserverRunsAndLogs(t, 120)
    const f = byId((await doctor(t)).findings, 'logs.freshness')!
    expect(f).toMatchObject({ status: 'WARN', evidence: [{ file: LOG, line: 1 }] })
    expect(f.title).toMatch(/12\d minutes old/)
  })

  it('AuditLogError from the counters a real apiserver exported with a full disk (two scrapes)', async () => {
    const dir = requireFixture(resolve(FIXTURES_DIR, 'runs/write-errors/log-tmpfs-full-blocking'))
    const scrapes = [readFileSync(join(dir, 'metrics.audit-before-traffic.txt'), 'utf8'), readFileSync(join(dir, 'metrics.audit-after-traffic.txt'), 'utf8')]
    let n = 0
    const tokens: Array<string | undefined> = []
    const server: Server = createServer((req, res) => {
      if (req.url === '/api/v1/namespaces/kube-system/configmaps/kubeadm-config') {
        res.end(JSON.stringify({ data: { ClusterConfiguration: KUBEADM_CONFIG_V1BETA3 } }))
        return
      }
      tokens.push(req.headers.authorization)
      res.end(scrapes[Math.min(n++, 1)])
    })
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    const t = kubeadmNode({ kubeadmConfig: false })
    enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    const r = await doctor(t, { apiserver: { url, token: 'tok', intervalMs: 10 } })
    server.close()
    expect(tokens).toEqual(['Bearer tok', 'Bearer tok'])
    const f = byId(r.findings, 'apiserver.audit-errors')!
    expect(f.status).toBe('FAIL')
    expect(f.title).toBe('AuditLogError: 722 of 990 audit events failed to be written during the interval (72.9 %)')
    expect(byId(r.findings, 'apiserver.rejected')?.status).toBe('PASS')
    // kubeadm-config read through the API: the v1beta3 ConfigMap lacks the audit flags
    expect(byId(r.findings, 'kubeadm.config')).toMatchObject({ status: 'WARN', evidence: expect.arrayContaining([{ file: `configmap kube-system/kubeadm-config (${url})`, value: 'apiServer.extraArgs: audit-policy-file=/etc/kubernetes/audit/policy.yaml missing' }]) })
  })

  it('bad input: an unparsable manifest, no kube-apiserver container, an unreadable file, a symlinked log path', async () => {
    const t = kubeadmNode()
    t.write(MANIFEST, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n spec: [\n')
    let r = await doctor(t)
    expect(byId(r.findings, 'manifest')).toMatchObject({ status: 'FAIL', evidence: [{ file: MANIFEST, line: expect.any(Number) }] })
    t.write(MANIFEST, KUBEADM_APISERVER_MANIFEST.replace(/name: kube-apiserver\n {4}readinessProbe/, 'name: apiserver\n    readinessProbe').replace('    - kube-apiserver\n', '    - /usr/local/bin/server\n'))
    r = await doctor(t)
    expect(byId(r.findings, 'manifest')?.title).toMatch(/no kube-apiserver container/)
    // the manifest is a directory: cannot be read
    const t2 = kubeadmNode()
    execFileSync('rm', [t2.at(MANIFEST)])
    mkdirSync(t2.at(MANIFEST))
    r = await doctor(t2)
    expect(byId(r.findings, 'manifest')?.status).toBe('FAIL')
    // a symlinked log directory and log file
    const t3 = kubeadmNode()
    enableAudit({ root: t3.root, policyText: POLICY, logPath: LOG })
    apiserverRunsAndLogs(t3)
    const elsewhere = mkdtempSync(join(tmpdir(), 'kubetrail-elsewhere-'))
    writeFileSync(join(elsewhere, 'x.log'), '')
    execFileSync('rm', [t3.at(LOG)])
    symlinkSync(join(elsewhere, 'x.log'), t3.at(LOG))
    r = await doctor(t3)
    expect(byId(r.findings, 'logs.files')).toMatchObject({ status: 'FAIL', evidence: [{ file: LOG, value: expect.stringMatching(/symbolic link/) }] })
  })
})

describe('kubetrail enable / disable', () => {
  it('enable is idempotent; disable restores the original manifest byte for byte', async () => {
    const t = kubeadmNode()
    const original = t.read(MANIFEST)
    const originalKubeadm = t.read('/etc/kubernetes/kubeadm-config.yaml')
    const first = enableAudit({ root: t.root, policyText: POLICY, logPath: LOG, now: new Date('2026-11-23T10:00:00Z') })
    expect(first.changed).toBe(true)
    expect(first.written).toEqual(expect.arrayContaining(['/etc/kubernetes/audit/policy.yaml', '/var/log/kubernetes/audit', MANIFEST, '/etc/kubernetes/kubeadm-config.yaml']))
    // the backup is outside the manifests directory, and private
    expect(first.backup).toBe('/etc/kubernetes/kubetrail-backups/kube-apiserver.yaml.2026-11-23T10-00-00-000Z')
    expect(readFileSync(t.at(first.backup!), 'utf8')).toBe(original)
    expect(statSync(t.at(first.backup!)).mode & 0o777).toBe(0o600)
    expect(statSync(t.at('/var/log/kubernetes/audit')).mode & 0o777).toBe(0o700)
    expect(statSync(t.at('/etc/kubernetes/audit/policy.yaml')).mode & 0o777).toBe(0o600)
    const enabled = t.read(MANIFEST)
    // every other line kept, in order
    const kept = enabled.split('\n').filter((l) => !/audit/.test(l) && !/^\s+(name: kubetrail|readOnly: true|type: DirectoryOrCreate|- hostPath:)$/.test(l))
    expect(kept.join('\n')).toContain(original.split('\n').filter((l) => !/^\s+(readOnly: true|type: DirectoryOrCreate|- hostPath:)$/.test(l)).slice(0, 40).join('\n'))
    expect(clusterConfiguration(t.read('/etc/kubernetes/kubeadm-config.yaml'))!.extraArgs.get('audit-policy-file')).toBe('/etc/kubernetes/audit/policy.yaml')
    expect(t.read('/etc/kubernetes/kubeadm-config.yaml')).toContain('# written by kubeadm init, kept for upgrades')
    const second = enableAudit({ root: t.root, policyText: POLICY, logPath: LOG })
    expect(second).toMatchObject({ changed: false, diff: '', written: [] })
    expect(t.read(MANIFEST)).toBe(enabled)
    const dry = disableAudit({ root: t.root, dryRun: true })
    expect(dry.diff).toMatch(/^- {4}- --audit-policy-file=\/etc\/kubernetes\/audit\/policy.yaml$/m)
    expect(t.read(MANIFEST)).toBe(enabled)
    const off = disableAudit({ root: t.root })
    expect(off.changed).toBe(true)
    expect(t.read(MANIFEST)).toBe(original)
    expect(clusterConfiguration(t.read('/etc/kubernetes/kubeadm-config.yaml'))!.extraArgs.size).toBe(0)
    expect(t.read('/etc/kubernetes/kubeadm-config.yaml')).toBe(originalKubeadm)
    expect(disableAudit({ root: t.root }).changed).toBe(false)
    // nothing but the backups was left in the manifests directory
    expect(execFileSync('ls', ['-a', t.at('/etc/kubernetes/manifests')], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()).toEqual(['.', '..', 'etcd.yaml', 'kube-apiserver.yaml', 'kube-controller-manager.yaml', 'kube-scheduler.yaml'])
  })

  it('--dry-run prints a unified diff and writes nothing', () => {
    const t = kubeadmNode({ kubeadmConfig: false })
    const before = t.read(MANIFEST)
    const r = enableAudit({ root: t.root, policyText: POLICY, logPath: LOG, dryRun: true })
    expect(r.diff).toMatch(/^\+\+\+ \/etc\/kubernetes\/manifests\/kube-apiserver.yaml/m)
    expect(r.diff).toMatch(/^\+ {4}- --audit-log-maxbackup=10$/m)
    expect(r.diff).toMatch(/^\+ {4}name: kubetrail-audit-logs$/m)
    expect(r.written).toEqual([])
    expect(t.read(MANIFEST)).toBe(before)
    expect(existsSync(t.at('/etc/kubernetes/audit'))).toBe(false)
    // no kubeadm file: the patch is printed for the API version in use (v1beta4 by default)
    expect(r.kubeadmPatch).toMatch(/^apiVersion: kubeadm.k8s.io\/v1beta4$/m)
    expect(r.kubeadmPatch).toMatch(/^ {2}- name: audit-log-path\n {4}value: "\/var\/log\/kubernetes\/audit\/audit.log"$/m)
    expect(r.messages.join('\n')).toMatch(/kubectl -n kube-system edit cm kubeadm-config/)
  })

  it('the webhook backend: the kubeconfig installed 0600 and mounted read-only', async () => {
    const t = kubeadmNode()
    enableAudit({ root: t.root, policyText: POLICY, webhookConfigText: 'apiVersion: v1\nkind: Config\n' })
    t.restartApiserver()
    expect(statSync(t.at('/etc/kubernetes/audit/webhook.kubeconfig')).mode & 0o777).toBe(0o600)
    const r = await doctor(t)
    expect(byId(r.findings, 'flags.backend')?.title).toBe('audit backend: webhook')
    expect(byId(r.findings, 'mounts.audit-webhook-config-file')?.status).toBe('PASS')
    expect(byId(r.findings, 'logs.freshness')?.status).toBe('SKIP')
  })
})
