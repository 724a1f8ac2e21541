/**
 * @module `kubetrail enable` / `disable`: turn auditing on (or off) in a kubeadm-style
 * kube-apiserver static pod manifest without the traps the seeds describe.
 *
 * The manifest is edited as text, line by line in kubeadm's layout, so every other byte
 * (comments, ordering, quoting) stays as it was and `disable` restores the original exactly.
 * The result is parsed again and checked before anything is written. The backup goes *outside*
 * the manifests directory (kubelet runs every file in it: seed 003), the new manifest is written
 * to a dot file there and renamed into place (kubelet ignores dot files, so it never sees half a file).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { posix } from 'node:path'
import { createTwoFilesPatch } from 'diff'
import { parseDocument, isMap, isSeq, YAMLMap, YAMLSeq } from 'yaml'
import { KubetrailError } from '../core/errors.js'
import { flagValue, hostPathOf, parseApiserverManifest, podsIn } from './manifest.js'
import { NodeFs } from './node.js'
import { clusterConfiguration, KUBEADM_CONFIG_CANDIDATES } from './doctor.js'

export const AUDIT_CONFIG_DIR = '/etc/kubernetes/audit'
export const CONFIG_VOLUME = 'kubetrail-audit-config'
export const LOGS_VOLUME = 'kubetrail-audit-logs'

export interface EnableOptions {
  root?: string
  manifestsDir?: string
  /** The policy to install (a local file, already readable). */
  policyText: string
  /** Log backend: the audit.log path on the node (and in the container). */
  logPath?: string
  /** Webhook backend: the kubeconfig to install. */
  webhookConfigText?: string
  /** A kubeadm ClusterConfiguration file on the node to update. */
  kubeadmConfig?: string
  dryRun?: boolean
  now?: Date
}

export interface ChangeReport {
  changed: boolean
  /** Unified diff of the manifest (and the kubeadm file when updated). */
  diff: string
  backup?: string
  written: string[]
  /** The ClusterConfiguration patch for the kubeadm API version in use. */
  kubeadmPatch?: string
  messages: string[]
}

export class ManifestEditError extends KubetrailError {
  constructor(message: string, hint: string) {
    super('KT_MANIFEST_EDIT', message, { hint })
  }
}

interface Layout {
  lines: string[]
  /** Index of the `- kube-apiserver` command item, and the prefix of command items. */
  commandStart: number
  itemPrefix: string
}

function layoutOf(text: string, file: string): Layout {
  const lines = text.split('\n')
  const commandStart = lines.findIndex((l) => /^\s*- kube-apiserver\s*$/.test(l))
  if (commandStart < 0) throw new ManifestEditError(`${file}: no "- kube-apiserver" command item in the layout kubeadm writes`, 'Add the audit flags by hand (kubetrail doctor shows what is missing).')
  return { lines, commandStart, itemPrefix: /^(\s*- )/.exec(lines[commandStart]!)![1]! }
}

/** [start, end) of the list items under the first `key:` line after `from` (items at any indent). */
function listBlock(lines: string[], key: string, from: number): { keyLine: number; start: number; end: number; prefix: string } | undefined {
  const keyLine = lines.findIndex((l, i) => i > from && new RegExp(`^\\s*${key}:\\s*$`).test(l))
  if (keyLine < 0) return undefined
  const keyIndent = /^(\s*)/.exec(lines[keyLine]!)![1]!.length
  const first = lines[keyLine + 1] ?? ''
  const m = /^(\s*)- /.exec(first)
  if (!m || m[1]!.length < keyIndent) return undefined
  const prefix = m[1]!
  let end = keyLine + 1
  while (end < lines.length && (lines[end]!.startsWith(`${prefix}- `) || lines[end]!.startsWith(`${prefix}  `))) end++
  return { keyLine, start: keyLine + 1, end, prefix }
}

/** The items of a list block, each as [start, end) line ranges. */
function items(lines: string[], block: { start: number; end: number; prefix: string }): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let i = block.start; i < block.end; i++) if (lines[i]!.startsWith(`${block.prefix}- `)) out.push([i, i + 1])
  for (const item of out) while (item[1] < block.end && !lines[item[1]]!.startsWith(`${block.prefix}- `)) item[1]++
  return out
}

function desiredFlags(o: EnableOptions): Array<[string, string]> {
  const flags: Array<[string, string]> = [['--audit-policy-file', `${AUDIT_CONFIG_DIR}/policy.yaml`]]
  if (o.logPath)
    flags.push(['--audit-log-path', o.logPath], ['--audit-log-format', 'json'], ['--audit-log-maxage', '30'], ['--audit-log-maxbackup', '10'], ['--audit-log-maxsize', '100'])
  if (o.webhookConfigText) flags.push(['--audit-webhook-config-file', `${AUDIT_CONFIG_DIR}/webhook.kubeconfig`])
  return flags
}

function desiredVolumes(o: EnableOptions): Array<{ name: string; path: string; readOnly: boolean }> {
  const v = [{ name: CONFIG_VOLUME, path: AUDIT_CONFIG_DIR, readOnly: true }]
  if (o.logPath) v.push({ name: LOGS_VOLUME, path: posix.dirname(o.logPath), readOnly: false })
  return v
}

/** The manifest text with the audit flags, mounts and volumes added (unchanged when all are there). */
export function withAudit(text: string, file: string, o: EnableOptions): string {
  const { lines, commandStart, itemPrefix } = layoutOf(text, file)
  const m = parseApiserverManifest(file, text)
  let commandEnd = commandStart + 1
  while (commandEnd < lines.length && lines[commandEnd]!.startsWith(itemPrefix)) commandEnd++
  const insertFlags: string[] = []
  for (const [name, value] of desiredFlags(o)) {
    const existing = lines.findIndex((l, i) => i > commandStart && i < commandEnd && (l === `${itemPrefix}${name}` || l.startsWith(`${itemPrefix}${name}=`)))
    if (existing >= 0) lines[existing] = `${itemPrefix}${name}=${value}`
    else insertFlags.push(`${itemPrefix}${name}=${value}`)
  }
  lines.splice(commandEnd, 0, ...insertFlags)
  const volumes = desiredVolumes(o)
  const mountsBlock = listBlock(lines, 'volumeMounts', commandStart)
  if (!mountsBlock) throw new ManifestEditError(`${file}: the kube-apiserver container has no volumeMounts list`, 'kubeadm manifests always have one; add the mounts by hand.')
  const p = mountsBlock.prefix
  const newMounts = volumes.filter((v) => !m.mounts.some((mt) => mt.name === v.name)).flatMap((v) => [`${p}- mountPath: ${v.path}`, `${p}  name: ${v.name}`, ...(v.readOnly ? [`${p}  readOnly: true`] : [])])
  lines.splice(mountsBlock.end, 0, ...newMounts)
  const volumesBlock = listBlock(lines, 'volumes', mountsBlock.end + newMounts.length - 1)
  if (!volumesBlock) throw new ManifestEditError(`${file}: the pod has no volumes list`, 'kubeadm manifests always have one; add the volumes by hand.')
  const q = volumesBlock.prefix
  const newVolumes = volumes.filter((v) => !m.volumes.some((vol) => vol.name === v.name)).flatMap((v) => [`${q}- hostPath:`, `${q}    path: ${v.path}`, `${q}    type: DirectoryOrCreate`, `${q}  name: ${v.name}`])
  lines.splice(volumesBlock.end, 0, ...newVolumes)
  const out = lines.join('\n')
  verifyEnabled(out, file, o)
  return out
}

/** The edited manifest must parse and mount every path its audit flags name. */
function verifyEnabled(text: string, file: string, o: EnableOptions): void {
  const m = parseApiserverManifest(file, text)
  for (const [name, value] of desiredFlags(o)) {
    if (flagValue(m, name)?.value !== value) throw new ManifestEditError(`${file}: after editing, ${name} is not ${value}`, 'Edit the manifest by hand; nothing was written.')
    const path = name === '--audit-log-path' ? posix.dirname(value) : value
    if (name.endsWith('-file') || name === '--audit-log-path') if (!hostPathOf(m, path)) throw new ManifestEditError(`${file}: after editing, ${path} is not mounted`, 'Edit the manifest by hand; nothing was written.')
  }
}

/** The manifest text without any --audit-* flag and without kubetrail's volumes and mounts. */
export function withoutAudit(text: string, file: string): string {
  const { lines, commandStart, itemPrefix } = layoutOf(text, file)
  const drop = new Set<number>()
  for (let i = commandStart + 1; i < lines.length && lines[i]!.startsWith(itemPrefix); i++) if (lines[i]!.startsWith(`${itemPrefix}--audit-`)) drop.add(i)
  for (const key of ['volumeMounts', 'volumes']) {
    const block = listBlock(lines, key, commandStart)
    if (!block) continue
    for (const [s, e] of items(lines, block)) {
      const name = lines.slice(s, e).map((l) => /^\s*(?:- )?name: (\S+)\s*$/.exec(l)?.[1]).find(Boolean)
      if (name === CONFIG_VOLUME || name === LOGS_VOLUME) for (let i = s; i < e; i++) drop.add(i)
    }
  }
  return lines.filter((_, i) => !drop.has(i)).join('\n')
}

/** The ClusterConfiguration patch (v1beta3: extraArgs map; v1beta4: list of {name, value}). */
export function kubeadmPatch(o: EnableOptions | undefined, apiVersion: string): string {
  const flags = o ? desiredFlags(o) : []
  const vols = o ? desiredVolumes(o) : []
  const v4 = !apiVersion.endsWith('v1beta3')
  const args = v4 ? flags.map(([n, v]) => `  - name: ${n.slice(2)}\n    value: "${v}"`).join('\n') : flags.map(([n, v]) => `    ${n.slice(2)}: "${v}"`).join('\n')
  const volumes = vols.map((v) => `  - name: ${v.name}\n    hostPath: ${v.path}\n    mountPath: ${v.path}\n    pathType: DirectoryOrCreate${v.readOnly ? '\n    readOnly: true' : ''}`).join('\n')
  return [`apiVersion: ${apiVersion}`, 'kind: ClusterConfiguration', 'apiServer:', v4 ? `  extraArgs:\n${args}` : `  extraArgs:\n${args}`, `  extraVolumes:\n${volumes}`].join('\n') + '\n'
}

/** Adds (or, for disable, removes) the audit args and volumes in a kubeadm ClusterConfiguration file. */
function editKubeadm(text: string, o: EnableOptions | undefined): string {
  const doc = parseDocument(text)
  const root = doc.contents as unknown
  if (!isMap(root) || root.get('kind') !== 'ClusterConfiguration') return text
  const v4 = !String(root.get('apiVersion') ?? '').endsWith('v1beta3')
  let api = root.get('apiServer')
  if (!isMap(api)) root.set('apiServer', (api = new YAMLMap()))
  const apiMap = api as YAMLMap
  let args = apiMap.get('extraArgs')
  if (v4) {
    if (!isSeq(args)) apiMap.set('extraArgs', (args = new YAMLSeq()))
    const seq = args as YAMLSeq
    seq.items = seq.items.filter((it) => !(isMap(it) && String(it.get('name')).startsWith('audit-')))
    for (const [n, v] of o ? desiredFlags(o) : []) seq.add(doc.createNode({ name: n.slice(2), value: v }))
  } else {
    if (!isMap(args)) apiMap.set('extraArgs', (args = new YAMLMap()))
    const map = args as YAMLMap
    for (const pair of [...map.items]) if (String((pair.key as { value?: unknown })?.value ?? pair.key).startsWith('audit-')) map.delete(pair.key)
    for (const [n, v] of o ? desiredFlags(o) : []) map.set(n.slice(2), v)
  }
  let vols = apiMap.get('extraVolumes')
  if (!isSeq(vols)) apiMap.set('extraVolumes', (vols = new YAMLSeq()))
  const vseq = vols as YAMLSeq
  vseq.items = vseq.items.filter((it) => !(isMap(it) && [CONFIG_VOLUME, LOGS_VOLUME].includes(String(it.get('name')))))
  for (const v of o ? desiredVolumes(o) : []) vseq.add(doc.createNode({ name: v.name, hostPath: v.path, mountPath: v.path, pathType: 'DirectoryOrCreate', ...(v.readOnly ? { readOnly: true } : {}) }))
  if (vseq.items.length === 0) apiMap.delete('extraVolumes')
  if ((isSeq(apiMap.get('extraArgs')) || isMap(apiMap.get('extraArgs'))) && (apiMap.get('extraArgs') as YAMLSeq | YAMLMap).items.length === 0) apiMap.delete('extraArgs')
  // kubeadm writes block sequences without indentation: keep its layout
  return doc.toString({ indentSeq: false })
}

/** Stray or duplicate manifests: `enable`/`disable` refuse to edit until they are resolved. */
function refuseStrays(node: NodeFs, dir: string): string {
  const files = node.list(dir)
  if (!files) throw new ManifestEditError(`the static pod directory ${dir} does not exist or cannot be read`, 'Point --manifests at kubelet\'s staticPodPath.')
  const definers: string[] = []
  for (const f of files) {
    if (f.startsWith('.')) continue
    const read = node.read(posix.join(dir, f))
    if ('error' in read) continue
    if (podsIn(read.text).some((p) => p.name === 'kube-apiserver')) definers.push(f)
  }
  if (definers.length > 1)
    throw new ManifestEditError(`${definers.length} files in ${dir} define the kube-apiserver pod (${definers.join(', ')}): kubelet runs one of them, so an edit may never take effect`, `Move every copy but the real manifest out of ${dir} (e.g. to /etc/kubernetes/), then run this again. \`kubetrail doctor\` shows which one is running.`)
  if (definers.length === 0) throw new ManifestEditError(`no kube-apiserver manifest in ${dir}`, 'Is this a control-plane node? Use --manifests for another staticPodPath.')
  return posix.join(dir, definers[0]!)
}

function writeAtomically(path: string, text: string, mode: number): void {
  const tmp = posix.join(posix.dirname(path), `.${posix.basename(path)}.kubetrail-tmp`)
  writeFileSync(tmp, text, { mode })
  chmodSync(tmp, mode)
  renameSync(tmp, path)
}

function backupDir(manifestsDir: string): string {
  const dir = posix.join(posix.dirname(manifestsDir), 'kubetrail-backups')
  if (dir.startsWith(`${manifestsDir}/`)) throw new ManifestEditError('the backup directory would be inside the manifests directory', 'Use a --manifests directory that is not /.')
  return dir
}

/** The kubeadm configuration file to keep in step: the one given, else the first usual one present. */
function kubeadmConfigFile(node: NodeFs, given: string | undefined): string | undefined {
  return given ?? KUBEADM_CONFIG_CANDIDATES.find((f) => existsSync(node.at(f)))
}

/**
 * Shared by enable and disable: compute, show, and (unless dry-run) write. Also returns the
 * kubeadm configuration as it was (enable prints a patch for its API version).
 */
function applyChange(o: { root?: string; manifestsDir?: string; dryRun?: boolean; now?: Date; kubeadmConfig?: string }, edit: (text: string, file: string) => string, kubeadmEdit: (text: string) => string, extraWrites: (node: NodeFs, written: string[]) => void): { report: ChangeReport; kubeadmFile?: string; kubeadmBefore?: string } {
  const node = new NodeFs(o.root ?? '/')
  const manifestsDir = o.manifestsDir ?? '/etc/kubernetes/manifests'
  const file = refuseStrays(node, manifestsDir)
  const before = readFileSync(node.at(file), 'utf8')
  const after = edit(before, file)
  const report: ChangeReport = { changed: before !== after, diff: '', written: [], messages: [] }
  if (report.changed) report.diff += createTwoFilesPatch(file, file, before, after, 'current', 'kubetrail')
  const kubeadmFile = kubeadmConfigFile(node, o.kubeadmConfig)
  let kubeadmAfter: string | undefined
  let kubeadmBefore: string | undefined
  if (kubeadmFile && existsSync(node.at(kubeadmFile))) {
    kubeadmBefore = readFileSync(node.at(kubeadmFile), 'utf8')
    kubeadmAfter = kubeadmEdit(kubeadmBefore)
    if (kubeadmAfter !== kubeadmBefore) report.diff += createTwoFilesPatch(kubeadmFile, kubeadmFile, kubeadmBefore, kubeadmAfter, 'current', 'kubetrail')
  }
  if (o.dryRun) return { report, kubeadmFile, kubeadmBefore }
  extraWrites(node, report.written)
  if (report.changed) {
    const dir = backupDir(manifestsDir)
    mkdirSync(node.at(dir), { recursive: true, mode: 0o700 })
    report.backup = posix.join(dir, `${posix.basename(file)}.${(o.now ?? new Date()).toISOString().replace(/[:.]/g, '-')}`)
    copyFileSync(node.at(file), node.at(report.backup))
    chmodSync(node.at(report.backup), 0o600)
    writeAtomically(node.at(file), after, statSync(node.at(file)).mode & 0o777)
    report.written.push(file)
  }
  if (kubeadmFile && kubeadmAfter !== undefined && kubeadmAfter !== kubeadmBefore) {
    writeAtomically(node.at(kubeadmFile), kubeadmAfter, statSync(node.at(kubeadmFile)).mode & 0o777)
    report.written.push(kubeadmFile)
  }
  return { report, kubeadmFile, kubeadmBefore }
}

export function enableAudit(o: EnableOptions): ChangeReport {
  if (!o.logPath && !o.webhookConfigText) throw new ManifestEditError('no backend: give --log-path or --webhook-config', 'e.g. --log-path /var/log/kubernetes/audit/audit.log')
  if (o.logPath && (!o.logPath.startsWith('/') || o.logPath.endsWith('/'))) throw new ManifestEditError(`--log-path ${o.logPath}: an absolute file path is needed`, 'e.g. /var/log/kubernetes/audit/audit.log')
  const { report, kubeadmFile, kubeadmBefore } = applyChange(o, (text, file) => withAudit(text, file, o), (text) => editKubeadm(text, o), (node, written) => {
    // the files the flags name, and the log directory (root-only)
    mkdirSync(node.at(AUDIT_CONFIG_DIR), { recursive: true, mode: 0o700 })
    const install = (name: string, text: string) => {
      const path = `${AUDIT_CONFIG_DIR}/${name}`
      if (existsSync(node.at(path)) && readFileSync(node.at(path), 'utf8') === text) return
      writeAtomically(node.at(path), text, 0o600)
      written.push(path)
    }
    install('policy.yaml', o.policyText)
    if (o.webhookConfigText) install('webhook.kubeconfig', o.webhookConfigText)
    if (o.logPath) {
      const dir = posix.dirname(o.logPath)
      if (!existsSync(node.at(dir))) {
        mkdirSync(node.at(dir), { recursive: true, mode: 0o700 })
        written.push(dir)
      }
      chmodSync(node.at(dir), 0o700)
    }
  })
  const version = kubeadmBefore !== undefined ? clusterConfiguration(kubeadmBefore)?.apiVersion : undefined
  report.kubeadmPatch = kubeadmPatch(o, version || 'kubeadm.k8s.io/v1beta4')
  if (!kubeadmFile) report.messages.push('No kubeadm configuration file on the node: apply the patch below to the kubeadm-config ConfigMap (kubectl -n kube-system edit cm kubeadm-config), or kubeadm upgrade will drop the audit flags.')
  return report
}

export function disableAudit(o: { root?: string; manifestsDir?: string; kubeadmConfig?: string; dryRun?: boolean; now?: Date }): ChangeReport {
  return applyChange(o, withoutAudit, (text) => editKubeadm(text, undefined), () => undefined).report
}
