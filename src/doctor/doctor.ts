/**
 * @module `kubetrail doctor`: the checks of the AuditLogError runbook, the seeds' incident and
 * the CIS benchmark, run against a control-plane node's files (under `--root`) and, optionally,
 * the apiserver's metrics. Every check reports evidence (file, line, value) and the fix.
 */
import { basename, posix } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { isJsonObject } from '../core/json.js'
import { compilePolicy, lintPolicy, loadPolicyText, PolicyInvalidError, type RequestAttributes } from '../policy/index.js'
import { exitCodeFor, type Evidence, type Finding } from './findings.js'
import type { ManifestError} from './manifest.js';
import { flagValue, hostPathOf, parseApiserverManifest, podsIn, type ApiserverManifest } from './manifest.js'
import { modeString, NodeFs } from './node.js'
import { fetchKubeadmConfig, scrapeAuditMetrics, type MetricsSource } from './metrics.js'

export interface DoctorOptions {
  root?: string
  /** kubelet's staticPodPath on the node. */
  manifestsDir?: string
  /** A kubeadm configuration file on the node (ClusterConfiguration). */
  kubeadmConfig?: string
  apiserver?: MetricsSource
  /** An event older than this in audit.log is stale. */
  freshnessMinutes?: number
  now?: Date
}

export interface DoctorReport {
  findings: Finding[]
  exitCode: number
}

/** Where kubeadm configuration files are usually kept on a control-plane node. */
export const KUBEADM_CONFIG_CANDIDATES = ['/etc/kubernetes/kubeadm-config.yaml', '/etc/kubernetes/kubeadm.yaml', '/etc/kubeadm/kubeadm-config.yaml']

export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const node = new NodeFs(options.root ?? '/')
  const manifestsDir = options.manifestsDir ?? '/etc/kubernetes/manifests'
  const findings: Finding[] = []
  const add = (f: Finding) => findings.push(f)
  const { manifestFile, stray } = staticPods(node, manifestsDir)
  stray.forEach(add)
  let m: ApiserverManifest | undefined
  if (!manifestFile) {
    add({ id: 'manifest', status: 'FAIL', title: 'no kube-apiserver static pod manifest', evidence: [{ file: manifestsDir }], fix: `Is this a control-plane node? Point --manifests at kubelet's staticPodPath (kubeadm: /etc/kubernetes/manifests).` })
  } else {
    const read = node.read(manifestFile)
    if ('error' in read) add({ id: 'manifest', status: 'FAIL', title: `the kube-apiserver manifest ${read.error}`, evidence: [{ file: manifestFile }], fix: 'Run the doctor as root, or on a copy of the node files you can read (--root).' })
    else {
      try {
        m = parseApiserverManifest(manifestFile, read.text)
        add({ id: 'manifest', status: 'PASS', title: 'kube-apiserver static pod manifest found', evidence: [{ file: manifestFile }] })
      } catch (error) {
        const e = error as ManifestError
        add({ id: 'manifest', status: 'FAIL', title: `the kube-apiserver manifest cannot be used: ${e.message.replace(`${manifestFile}${e.line ? `:${e.line}` : ''}: `, '')}`, evidence: [{ file: manifestFile, line: e.line }], fix: 'kubelet cannot run this manifest either: restore it from your backup (kept outside the manifests directory).' })
      }
    }
  }
  if (m) {
    flagChecks(m).forEach(add)
    policyChecks(node, m).forEach(add)
    mountChecks(m).forEach(add)
    logFileChecks(node, m).forEach(add)
    add(runningProcessCheck(node, m))
    // kubeadm's configuration: a file on the node, else the kubeadm-config ConfigMap through the API
    const fromApi = !options.kubeadmConfig && options.apiserver ? await fetchKubeadmConfig(options.apiserver) : undefined
    add(kubeadmCheck(node, m, options.kubeadmConfig, fromApi))
    add(freshnessCheck(node, m, options.now ?? new Date(), options.freshnessMinutes ?? 15))
  }
  if (options.apiserver) findings.push(...(await scrapeAuditMetrics(options.apiserver)))
  return { findings, exitCode: exitCodeFor(findings) }
}

/** Every file kubelet runs from the manifests directory; the seed 003 incident. */
function staticPods(node: NodeFs, dir: string): { manifestFile: string | undefined; stray: Finding[] } {
  const files = node.list(dir)
  if (!files) return { manifestFile: undefined, stray: [{ id: 'static-pods', status: 'FAIL', title: `the static pod directory ${dir} does not exist or cannot be read`, evidence: [{ file: dir }], fix: 'Point --manifests at kubelet\'s staticPodPath (see /var/lib/kubelet/config.yaml).' }] }
  const findings: Finding[] = []
  const owners = new Map<string, string[]>()
  let manifestFile: string | undefined
  for (const f of files) {
    if (f.startsWith('.')) continue // kubelet skips dot files
    const path = posix.join(dir, f)
    const st = node.lstat(path)
    if (!st || st.isDirectory()) continue
    const read = node.read(path)
    if ('error' in read) continue
    for (const pod of podsIn(read.text)) {
      const key = `${pod.namespace}/${pod.name}`
      owners.set(key, [...(owners.get(key) ?? []), path])
      const isApiserver = pod.name === 'kube-apiserver' || pod.name.startsWith('kube-apiserver')
      if (isApiserver && (!manifestFile || f === 'kube-apiserver.yaml')) manifestFile = path
    }
    if (!/\.(ya?ml|json)$/.test(f))
      findings.push({
        id: 'static-pods.stray-file',
        status: 'FAIL',
        title: `kubelet runs ${f} too: every non-dot file in the static pod directory is a manifest`,
        evidence: [{ file: path }],
        fix: `Move it out: mv ${path} /etc/kubernetes/ (keep backups next to, never inside, ${dir}).`,
      })
  }
  // kubeadm's file that does not parse as a pod is still the manifest to report on
  if (!manifestFile && files.includes('kube-apiserver.yaml')) manifestFile = posix.join(dir, 'kube-apiserver.yaml')
  for (const [pod, paths] of owners)
    if (paths.length > 1)
      findings.push({
        id: 'static-pods.duplicate',
        status: 'FAIL',
        title: `${paths.length} manifests define pod ${pod}: kubelet runs one of them, and edits to the other never take effect`,
        evidence: paths.map((file) => ({ file })),
        fix: `Keep only the real manifest in ${dir}; move the others out (the seeds' incident: a kube-apiserver.yaml.bak silently kept new audit flags from taking effect). Symptom: the running apiserver's /proc/<pid>/cmdline is shorter than the manifest's command.`,
      })
  if (findings.length === 0) findings.push({ id: 'static-pods', status: 'PASS', title: 'no stray or duplicate static pod manifests', evidence: [{ file: dir, value: `${files.filter((f) => !f.startsWith('.')).length} files` }] })
  return { manifestFile, stray: findings }
}

function ev(m: ApiserverManifest, name: string): Evidence[] {
  const f = flagValue(m, name)
  return [{ file: m.file, line: f?.line, value: f ? `${f.name}${f.value !== undefined ? `=${f.value}` : ''}` : `${name} not set` }]
}

function flagChecks(m: ApiserverManifest): Finding[] {
  const out: Finding[] = []
  const policy = flagValue(m, '--audit-policy-file')
  const logPath = flagValue(m, '--audit-log-path')
  const webhook = flagValue(m, '--audit-webhook-config-file')
  out.push(
    policy?.value
      ? { id: 'flags.policy-file', status: 'PASS', title: 'an audit policy is configured', evidence: ev(m, '--audit-policy-file'), refs: ['CIS 3.2.1'] }
      : { id: 'flags.policy-file', status: 'FAIL', title: 'no --audit-policy-file: the apiserver audits nothing', evidence: ev(m, '--audit-policy-file'), fix: 'kubetrail enable --policy POLICY --log-path /var/log/kubernetes/audit/audit.log', refs: ['CIS 3.2.1'] },
  )
  out.push(
    logPath?.value || webhook?.value
      ? { id: 'flags.backend', status: 'PASS', title: `audit backend: ${[logPath?.value && 'log', webhook?.value && 'webhook'].filter(Boolean).join(' + ')}`, evidence: [...(logPath ? ev(m, '--audit-log-path') : []), ...(webhook ? ev(m, '--audit-webhook-config-file') : [])], refs: ['CIS 1.2.16'] }
      : { id: 'flags.backend', status: 'FAIL', title: 'no audit backend (--audit-log-path or --audit-webhook-config-file): events go nowhere', evidence: ev(m, '--audit-log-path'), fix: 'Add --audit-log-path=/var/log/kubernetes/audit/audit.log (kubetrail enable does it with the volumes).', refs: ['CIS 1.2.16'] },
  )
  if (logPath?.value === '-') out.push({ id: 'flags.backend-stdout', status: 'WARN', title: '--audit-log-path=- writes events to the apiserver\'s stdout, mixed with its log', evidence: ev(m, '--audit-log-path'), fix: 'Write to a file (/var/log/kubernetes/audit/audit.log) so it can be rotated, protected and followed.' })
  if (logPath?.value && logPath.value !== '-') {
    const format = flagValue(m, '--audit-log-format')
    out.push(
      format?.value === 'legacy'
        ? { id: 'flags.log-format', status: 'WARN', title: 'legacy log format: no levels, user agents, bodies or annotations', evidence: ev(m, '--audit-log-format'), fix: 'Set --audit-log-format=json (the default).' }
        : { id: 'flags.log-format', status: 'PASS', title: 'log format json', evidence: ev(m, '--audit-log-format') },
    )
    for (const [flag, min, ref, what] of [
      ['--audit-log-maxage', 30, 'CIS 1.2.17', 'days'],
      ['--audit-log-maxbackup', 10, 'CIS 1.2.18', 'backups'],
      ['--audit-log-maxsize', 100, 'CIS 1.2.19', 'MB'],
    ] as const) {
      const f = flagValue(m, flag)
      const n = Number(f?.value)
      const id = `flags.${flag.slice(12)}`
      if (!f || f.value === undefined || !Number.isFinite(n)) out.push({ id, status: 'FAIL', title: `${flag} not set: ${flag === '--audit-log-maxsize' ? 'the log never rotates' : flag === '--audit-log-maxbackup' ? 'every rotated file is kept forever (the disk fills)' : 'old files are never removed by age'}`, evidence: ev(m, flag), fix: `Add ${flag}=${min} (CIS) or what your retention requires.`, refs: [ref] })
      else if (n === 0 && flag !== '--audit-log-maxsize') out.push({ id, status: 'WARN', title: `${flag}=0 means no limit`, evidence: ev(m, flag), fix: `Set ${flag}=${min}.`, refs: [ref] })
      else if (n < min) out.push({ id, status: 'WARN', title: `${flag}=${n} ${what}, below the CIS recommendation of ${min}`, evidence: ev(m, flag), fix: `Set ${flag}=${min} unless your retention is handled elsewhere (e.g. kubetrail keeps the events).`, refs: [ref] })
      else out.push({ id, status: 'PASS', title: `${flag}=${n} ${what}`, evidence: ev(m, flag), refs: [ref] })
    }
  }
  return out
}

/** The policy file on the node (through its mount), parsed, validated and linted by our engine. */
function policyChecks(node: NodeFs, m: ApiserverManifest): Finding[] {
  const flag = flagValue(m, '--audit-policy-file')
  if (!flag?.value) return []
  const mapped = hostPathOf(m, flag.value)
  if (!mapped) return [] // mountChecks reports it
  const file = mapped.hostPath
  const read = node.read(file)
  if ('error' in read) return [{ id: 'policy.file', status: 'FAIL', title: `the audit policy file ${read.error}: the apiserver will not start (crash-loop)`, evidence: [{ file }, ...ev(m, '--audit-policy-file')], fix: `Create ${file} (kubetrail policy init --preset comprehensive --file ${file}) or fix the flag.` }]
  let loaded
  try {
    // the apiserver's decoder is not strict: unknown fields are dropped, not refused
    loaded = loadPolicyText(read.text, file, { strict: false })
  } catch (error) {
    const issues = error instanceof PolicyInvalidError ? error.issues : []
    return [{ id: 'policy.file', status: 'FAIL', title: 'the audit policy is rejected by the apiserver\'s validation: the apiserver will not start', evidence: issues.length > 0 ? issues.slice(0, 5).map((i) => ({ file, line: i.line, value: i.message })) : [{ file, value: (error as Error).message.split('\n')[0] }], fix: `kubetrail policy check ${file} shows every error with its line.` }]
  }
  const out: Finding[] = [{ id: 'policy.file', status: 'PASS', title: `the audit policy loads and validates (${loaded.policy.rules?.length ?? 0} rules)`, evidence: [{ file }] }]
  const lint = lintPolicy(loaded)
  if (lint.length > 0) out.push({ id: 'policy.lint', status: lint.some((l) => l.severity === 'error') ? 'WARN' : 'PASS', title: `policy lint: ${lint.length} finding(s)`, evidence: lint.slice(0, 8).map((l) => ({ file, line: l.line, value: `${l.severity} ${l.id}: ${l.message}` })), fix: `kubetrail policy lint ${file}` })
  out.push(coverageCheck(loaded, file))
  return out
}

/** What security teams need logged (seed 002's "always log"): is it, under this policy? */
function coverageCheck(loaded: ReturnType<typeof loadPolicyText>, file: string): Finding {
  const evaluator = compilePolicy(loaded.policy, { kubernetesVersion: loaded.kubernetesVersion })
  const req = (r: Partial<RequestAttributes>): RequestAttributes => ({ user: 'alice@example.com', groups: ['system:authenticated'], verb: 'get', apiGroup: '', resource: '', subresource: '', namespace: 'default', name: 'x', path: '/api/v1/namespaces/default/x', isResourceRequest: true, ...r })
  const essential: Array<[string, RequestAttributes, 'ResponseComplete' | 'ResponseStarted']> = [
    ['secret reads', req({ resource: 'secrets', path: '/api/v1/namespaces/default/secrets/x' }), 'ResponseComplete'],
    ['exec into pods (create)', req({ verb: 'create', resource: 'pods', subresource: 'exec', path: '/api/v1/namespaces/default/pods/x/exec' }), 'ResponseStarted'],
    ['exec into pods over WebSocket (get)', req({ verb: 'get', resource: 'pods', subresource: 'exec', path: '/api/v1/namespaces/default/pods/x/exec' }), 'ResponseStarted'],
    ['RBAC writes', req({ verb: 'create', apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', namespace: '', path: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings' }), 'ResponseComplete'],
    ['failed logins (401)', { ...req({ verb: 'list', resource: 'pods', name: '', path: '/api/v1/namespaces/default/pods' }), user: null, groups: [] }, 'ResponseStarted'],
  ]
  const missing = essential.filter(([, attrs, stage]) => {
    const d = evaluator.evaluate(attrs)
    return d.level === 'None' || d.omitStages.includes(stage)
  })
  return missing.length === 0
    ? { id: 'policy.coverage', status: 'PASS', title: 'the policy logs secret access, exec, RBAC writes and failed logins', evidence: [{ file }] }
    : { id: 'policy.coverage', status: 'WARN', title: `the policy logs nothing for: ${missing.map(([what]) => what).join(', ')}`, evidence: missing.map(([what, attrs, stage]) => ({ file, value: `${what}: ${attrs.verb} ${attrs.resource || attrs.path}${attrs.subresource ? `/${attrs.subresource}` : ''} at stage ${stage} → not logged` })), fix: `kubetrail policy explain ${file} --verb … shows which rule decides; kubetrail policy init --preset comprehensive is a starting point that logs them.` }
}

/** Each path a flag names must be on a hostPath volume, mounted the right way. */
function mountChecks(m: ApiserverManifest): Finding[] {
  const out: Finding[] = []
  const check = (flag: string, expect: 'file-ro' | 'dir-rw', consequence: string) => {
    const f = flagValue(m, flag)
    if (!f?.value || f.value === '-') return
    const path = expect === 'dir-rw' ? posix.dirname(f.value) : f.value
    const mapped = hostPathOf(m, path)
    if (!mapped) {
      out.push({ id: `mounts.${flag.slice(2)}`, status: 'FAIL', title: `${flag}=${f.value} is not on any mounted volume: ${consequence}`, evidence: ev(m, flag), fix: `Add a hostPath volume for ${path} and a volumeMount at the same path${expect === 'file-ro' ? ' (readOnly: true, type File or DirectoryOrCreate for its directory)' : ' (type DirectoryOrCreate, writable)'}; kubetrail enable does it.` })
      return
    }
    const { mount, volume } = mapped
    const evidence = [...ev(m, flag), { file: m.file, line: mount.line, value: `mountPath ${mount.mountPath}${mount.readOnly ? ' (readOnly)' : ''}` }, { file: m.file, line: volume.line, value: `hostPath ${volume.path} type ${volume.type ?? '(none)'}` }]
    if (expect === 'dir-rw' && mount.readOnly) out.push({ id: `mounts.${flag.slice(2)}`, status: 'FAIL', title: `the log directory is mounted read-only: every audit write fails`, evidence, fix: `Remove readOnly from volumeMount ${mount.name}.` })
    else if (expect === 'file-ro' && !mount.readOnly) out.push({ id: `mounts.${flag.slice(2)}`, status: 'WARN', title: `${flag} is mounted writable: the apiserver only needs to read it`, evidence, fix: `Set readOnly: true on volumeMount ${mount.name}.` })
    else if (expect === 'dir-rw' && volume.type !== undefined && !['DirectoryOrCreate', 'Directory'].includes(volume.type)) out.push({ id: `mounts.${flag.slice(2)}`, status: 'WARN', title: `the log volume has hostPath type ${volume.type}`, evidence, fix: 'Use type DirectoryOrCreate.' })
    else out.push({ id: `mounts.${flag.slice(2)}`, status: 'PASS', title: `${flag} is on hostPath ${mapped.hostPath}`, evidence })
  }
  check('--audit-policy-file', 'file-ro', 'the apiserver cannot read it and will crash-loop')
  check('--audit-webhook-config-file', 'file-ro', 'the apiserver cannot read it and will crash-loop')
  check('--audit-log-path', 'dir-rw', 'events are written inside the container and lost with it')
  return out
}

/** Owner, mode and attributes of the log directory and files; free space and the rotation footprint. */
function logFileChecks(node: NodeFs, m: ApiserverManifest): Finding[] {
  const f = flagValue(m, '--audit-log-path')
  if (!f?.value || f.value === '-') return []
  const mapped = hostPathOf(m, posix.dirname(f.value))
  if (!mapped) return []
  const dir = mapped.hostPath
  const logName = posix.basename(f.value)
  const out: Finding[] = []
  const dirSt = node.lstat(dir)
  if (!dirSt) return [{ id: 'logs.directory', status: 'WARN', title: `the log directory ${dir} does not exist yet (kubelet creates it with DirectoryOrCreate, mode 0755)`, evidence: [{ file: dir }], fix: `install -d -o root -g root -m 0700 ${dir}` }]
  if (dirSt.isSymbolicLink()) out.push({ id: 'logs.directory', status: 'WARN', title: `the log directory is a symbolic link: its owner and mode are those of the target`, evidence: [{ file: dir, value: 'symlink' }], fix: 'Point the hostPath at the real directory.' })
  else {
    const ok = dirSt.uid === 0 && (dirSt.mode & 0o7777) === 0o700
    out.push(ok ? { id: 'logs.directory', status: 'PASS', title: 'log directory owned by root, mode 0700', evidence: [{ file: dir, value: `uid ${dirSt.uid} ${modeString(dirSt)}` }] } : { id: 'logs.directory', status: dirSt.uid !== 0 || (dirSt.mode & 0o002) !== 0 ? 'FAIL' : 'WARN', title: `log directory is uid ${dirSt.uid}, mode ${modeString(dirSt)} (expected root, 0700)`, evidence: [{ file: dir, value: `uid ${dirSt.uid} ${modeString(dirSt)}` }], fix: `chown root:root ${dir} && chmod 0700 ${dir}` })
  }
  const stem = logName.replace(/\.[^.]*$/, '')
  const files = (node.list(dir) ?? []).filter((n) => n === logName || n.startsWith(`${stem}-`))
  const bad: Evidence[] = []
  for (const name of files) {
    const path = posix.join(dir, name)
    const st = node.lstat(path)
    if (!st) continue
    if (st.isSymbolicLink()) bad.push({ file: path, value: 'symbolic link: the apiserver writes wherever it points' })
    else if (st.uid !== 0 || (st.mode & 0o077) !== 0) bad.push({ file: path, value: `uid ${st.uid} ${modeString(st)}` })
  }
  out.push(
    bad.length === 0
      ? { id: 'logs.files', status: 'PASS', title: `${files.length} log file(s) owned by root, mode 0600`, evidence: [{ file: dir }] }
      : { id: 'logs.files', status: 'FAIL', title: 'audit log files others can read (they hold who-did-what and, at Request level, object bodies)', evidence: bad, fix: `chown root:root ${dir}/${stem}* && chmod 0600 ${dir}/${stem}*  (the apiserver keeps an existing file's mode: a file pre-created 0644 stays world-readable)` },
  )
  const attrIssues: Evidence[] = []
  let unsupported: string | undefined
  for (const path of [dir, ...files.map((n) => posix.join(dir, n))]) {
    const a = node.attributes(path)
    if ('unsupported' in a) unsupported ??= a.unsupported
    else if (/[ia]/.test(a.flags)) attrIssues.push({ file: path, value: `attributes ${a.flags}${a.flags.includes('i') ? ' (immutable)' : ''}${a.flags.includes('a') ? ' (append-only)' : ''}` })
  }
  if (attrIssues.length > 0) out.push({ id: 'logs.attributes', status: 'FAIL', title: 'immutable or append-only attributes: the apiserver cannot write or rotate (possible tampering)', evidence: attrIssues, fix: `If you did not set them, treat it as tampering (incident response). Otherwise: chattr -i -a ${attrIssues.map((e) => e.file).join(' ')}` })
  else if (unsupported && files.length + 1 > 0 && attrIssues.length === 0) out.push({ id: 'logs.attributes', status: 'SKIP', title: `file attributes cannot be read here: ${unsupported}`, evidence: [{ file: dir }] })
  else out.push({ id: 'logs.attributes', status: 'PASS', title: 'no immutable or append-only attributes', evidence: [{ file: dir }] })
  out.push(spaceCheck(node, m, dir, files))
  return out
}

function spaceCheck(node: NodeFs, m: ApiserverManifest, dir: string, files: string[]): Finding {
  const fs = node.statfs(dir)
  if (!fs) return { id: 'logs.space', status: 'SKIP', title: 'free space cannot be read', evidence: [{ file: dir }] }
  const maxsize = Number(flagValue(m, '--audit-log-maxsize')?.value ?? 0)
  const maxbackup = Number(flagValue(m, '--audit-log-maxbackup')?.value ?? 0)
  const sizes = files.map((n) => ({ n, st: node.lstat(posix.join(dir, n)) })).filter((x) => x.st)
  const used = sizes.reduce((s, x) => s + x.st!.size, 0)
  const oldest = Math.min(...sizes.map((x) => x.st!.mtimeMs))
  const newest = Math.max(...sizes.map((x) => x.st!.mtimeMs))
  const spanDays = (newest - oldest) / 86_400_000
  const ratePerDay = spanDays > 1 / 24 ? used / spanDays : undefined
  const footprint = maxsize > 0 && maxbackup > 0 ? maxsize * 1024 * 1024 * (maxbackup + 1) : undefined
  const evidence: Evidence[] = [
    { file: dir, value: `${(fs.freeBytes / 1e9).toFixed(2)} GB free of ${(fs.totalBytes / 1e9).toFixed(2)} GB, ${fs.freeInodes} inodes free` },
    { file: dir, value: `${(used / 1e6).toFixed(1)} MB of audit logs in ${files.length} file(s)${ratePerDay ? `, about ${(ratePerDay / 1e6).toFixed(1)} MB/day` : ''}` },
    { file: m.file, value: footprint ? `rotation keeps at most ${(footprint / 1e6).toFixed(0)} MB (maxsize ${maxsize} MB × ${maxbackup + 1} files)` : 'rotation has no size bound (maxsize or maxbackup unset)' },
  ]
  const daysLeft = ratePerDay ? fs.freeBytes / ratePerDay : undefined
  if (fs.freeBytes < 0.05 * fs.totalBytes || fs.freeInodes < 1000 || (footprint !== undefined && footprint - used > fs.freeBytes))
    return { id: 'logs.space', status: 'FAIL', title: `the log file system is too full for the rotation settings${daysLeft !== undefined ? ` (full in ${daysLeft.toFixed(1)} days at the current rate)` : ''}: writes will fail (AuditLogError)`, evidence, fix: 'Free space, move the logs to a larger file system, or lower --audit-log-maxsize × --audit-log-maxbackup (or log less: kubetrail policy simulate shows the cost of a policy).' }
  if (footprint === undefined && daysLeft !== undefined && daysLeft < 14)
    return { id: 'logs.space', status: 'WARN', title: `full in about ${daysLeft.toFixed(1)} days at the current rate, and rotation does not bound it`, evidence, fix: 'Set --audit-log-maxsize and --audit-log-maxbackup.' }
  return { id: 'logs.space', status: 'PASS', title: `enough space${daysLeft !== undefined ? ` (${daysLeft.toFixed(0)} days at the current rate)` : ''}`, evidence }
}

/** The running process against the manifest: missing flags mean kubelet runs something else (seed 003). */
function runningProcessCheck(node: NodeFs, m: ApiserverManifest): Finding {
  const pids = (node.list('/proc') ?? []).filter((p) => /^\d+$/.test(p))
  for (const pid of pids) {
    const read = node.read(`/proc/${pid}/cmdline`)
    if ('error' in read) continue
    const argv = read.text.split('\0').filter(Boolean)
    if (!argv[0] || basename(argv[0]) !== 'kube-apiserver') continue
    const running = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a))
    const wanted = m.flags.filter((f) => f.name.startsWith('--audit-')).map((f) => `${f.name}${f.value !== undefined ? `=${f.value}` : ''}`)
    const missing = wanted.filter((w) => !running.has(w))
    const evidence: Evidence[] = [{ file: `/proc/${pid}/cmdline`, value: `${argv.length} arguments (manifest: ${m.argv.length})` }, ...missing.map((w) => ({ file: m.file, line: m.flags.find((f) => w.startsWith(f.name))?.line, value: `${w}: not in the running process` }))]
    if (missing.length > 0)
      return { id: 'process.flags', status: 'FAIL', title: `the running kube-apiserver (pid ${pid}) lacks ${missing.length} audit flag(s) of the manifest: it was not started from the manifest you edited`, evidence, fix: `Look for another manifest defining kube-apiserver in the static pod directory (a .bak file) and move it out; kubelet then restarts the apiserver from ${m.file}. Or the apiserver has not restarted yet: check crictl ps.` }
    return { id: 'process.flags', status: 'PASS', title: `the running kube-apiserver (pid ${pid}) has the manifest's audit flags`, evidence: evidence.slice(0, 1) }
  }
  return { id: 'process.flags', status: 'SKIP', title: 'no running kube-apiserver found under /proc', evidence: [{ file: '/proc' }], fix: 'Run on the control-plane node (or pass --root with its /proc) to compare the running flags with the manifest.' }
}

/** kubeadm's ClusterConfiguration must carry the audit flags and volumes, or `kubeadm upgrade` drops them. */
function kubeadmCheck(node: NodeFs, m: ApiserverManifest, given: string | undefined, fromApi?: { source: string; text: string }): Finding {
  const candidates = given ? [given] : KUBEADM_CONFIG_CANDIDATES
  for (const file of fromApi ? [fromApi.source, ...candidates] : candidates) {
    const read = fromApi && file === fromApi.source ? { text: fromApi.text } : node.read(file)
    if ('error' in read) {
      if (given) return { id: 'kubeadm.config', status: 'FAIL', title: `the kubeadm configuration ${read.error}`, evidence: [{ file }] }
      continue
    }
    const cfg = clusterConfiguration(read.text)
    if (!cfg) continue
    const { apiVersion, extraArgs, volumes } = cfg
    const wanted = m.flags.filter((f) => f.name.startsWith('--audit-'))
    const missingArgs = wanted.filter((f) => extraArgs.get(f.name.slice(2)) !== f.value)
    const auditMounts = m.mounts.filter((mt) => wanted.some((f) => f.value && hostPathOf(m, f.name === '--audit-log-path' ? posix.dirname(f.value) : f.value)?.mount === mt))
    const missingVolumes = auditMounts.filter((mt) => !volumes.has(mt.mountPath))
    if (wanted.length === 0) return { id: 'kubeadm.config', status: 'SKIP', title: 'no audit flags in the manifest to compare with kubeadm-config', evidence: [{ file }] }
    if (missingArgs.length === 0 && missingVolumes.length === 0) return { id: 'kubeadm.config', status: 'PASS', title: `kubeadm ClusterConfiguration (${apiVersion}) carries the audit flags and volumes`, evidence: [{ file }] }
    return {
      id: 'kubeadm.config',
      status: 'WARN',
      title: `kubeadm ClusterConfiguration (${apiVersion}) lacks ${missingArgs.length} audit flag(s) and ${missingVolumes.length} volume(s): kubeadm upgrade will regenerate the manifest without them`,
      evidence: [...missingArgs.map((f) => ({ file, value: `apiServer.extraArgs: ${f.name.slice(2)}=${f.value ?? ''} missing` })), ...missingVolumes.map((mt) => ({ file, value: `apiServer.extraVolumes: ${mt.mountPath} missing` }))],
      fix: 'kubetrail enable prints the patch for this kubeadm API version; apply it to the kubeadm-config ConfigMap (kubectl -n kube-system edit cm kubeadm-config) and to this file.',
    }
  }
  return { id: 'kubeadm.config', status: 'SKIP', title: 'no kubeadm ClusterConfiguration found on the node', evidence: candidates.map((file) => ({ file })), fix: 'Pass --kubeadm-config FILE (e.g. kubectl -n kube-system get cm kubeadm-config -o jsonpath={.data.ClusterConfiguration} > cc.yaml).' }
}

/** extraArgs (v1beta3: a map; v1beta4: a list of {name, value}) and extraVolumes' mountPaths. */
export function clusterConfiguration(text: string): { apiVersion: string; extraArgs: Map<string, string>; volumes: Set<string> } | undefined {
  for (const chunk of text.split(/^---\s*$/m)) {
    let doc: unknown
    try {
      doc = parseYaml(chunk)
    } catch {
      continue
    }
    if (!isJsonObject(doc) || doc['kind'] !== 'ClusterConfiguration') continue
    const api = isJsonObject(doc['apiServer']) ? doc['apiServer'] : {}
    const extraArgs = new Map<string, string>()
    const args = api['extraArgs']
    if (Array.isArray(args)) for (const a of args) if (isJsonObject(a)) extraArgs.set(String(a['name']), String(a['value']))
    if (isJsonObject(args)) for (const [k, v] of Object.entries(args)) extraArgs.set(k, String(v))
    const volumes = new Set<string>()
    if (Array.isArray(api['extraVolumes'])) for (const v of api['extraVolumes']) if (isJsonObject(v)) volumes.add(String(v['mountPath']))
    return { apiVersion: String(doc['apiVersion'] ?? ''), extraArgs, volumes }
  }
  return undefined
}

/** The newest event in audit.log is recent. */
function freshnessCheck(node: NodeFs, m: ApiserverManifest, now: Date, minutes: number): Finding {
  const f = flagValue(m, '--audit-log-path')
  if (!f?.value || f.value === '-') return { id: 'logs.freshness', status: 'SKIP', title: 'no log file to check (webhook only)', evidence: ev(m, '--audit-log-path'), fix: 'With kubetrail serve, the KubetrailAuditSilence alert watches freshness.' }
  const mapped = hostPathOf(m, f.value)
  if (!mapped) return { id: 'logs.freshness', status: 'SKIP', title: 'the log path is not mounted (see mounts)', evidence: ev(m, '--audit-log-path') }
  const read = node.read(mapped.hostPath)
  if ('error' in read) return { id: 'logs.freshness', status: 'WARN', title: `no audit log: ${mapped.hostPath} ${read.error}`, evidence: [{ file: mapped.hostPath }], fix: 'If the flags were just added, is the apiserver running with them (process.flags)? Otherwise the mount may point elsewhere.' }
  const lines = read.text.split('\n').filter((l) => l.trim() !== '')
  for (let i = lines.length - 1; i >= 0 && i >= lines.length - 20; i--) {
    const stamp = /"stageTimestamp":"([^"]+)"/.exec(lines[i]!)?.[1] ?? /^(\d{4}-\d\d-\d\dT[^ ]+) AUDIT:/.exec(lines[i]!)?.[1]
    if (!stamp) continue
    const ageMin = (now.getTime() - Date.parse(stamp)) / 60_000
    const evidence = [{ file: mapped.hostPath, line: i + 1, value: `newest event at ${stamp}` }]
    return ageMin > minutes
      ? { id: 'logs.freshness', status: 'WARN', title: `the newest audit event is ${ageMin.toFixed(0)} minutes old: the apiserver may have stopped writing here`, evidence, fix: 'Check process.flags (is the running apiserver the manifest you edited?), free space, and the AuditLogError alert.' }
      : { id: 'logs.freshness', status: 'PASS', title: `the newest audit event is ${Math.max(0, ageMin).toFixed(0)} minutes old`, evidence }
  }
  return { id: 'logs.freshness', status: 'WARN', title: 'the audit log holds no event', evidence: [{ file: mapped.hostPath }], fix: 'A policy that logs nothing, or an apiserver not running with these flags.' }
}

