/**
 * @module The kube-apiserver static pod manifest as the doctor and `enable` see it: its flags
 * (with their lines), volume mounts and hostPath volumes, and how a path inside the container
 * maps to a path on the node.
 */
import { isMap, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml'
import { isJsonObject } from '../core/json.js'

export interface Flag {
  name: string
  value: string | undefined
  /** 1-based line in the manifest. */
  line: number
}

export interface VolumeMount {
  name: string
  mountPath: string
  readOnly: boolean
  line: number
}

export interface HostPathVolume {
  name: string
  path: string
  type: string | undefined
  line: number
}

export interface ApiserverManifest {
  file: string
  podName: string
  namespace: string
  flags: Flag[]
  mounts: VolumeMount[]
  volumes: HostPathVolume[]
  /** The container's command + args, in order (what kubelet starts). */
  argv: string[]
}

export class ManifestError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    message: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${message}`)
  }
}

/** The pods a static-pod file defines (kubelet reads one object per file, but be thorough). */
export function podsIn(text: string): Array<{ name: string; namespace: string; value: Record<string, unknown> }> {
  const out: Array<{ name: string; namespace: string; value: Record<string, unknown> }> = []
  for (const doc of parseAllDocuments(text)) {
    if ('errors' in doc && doc.errors.length > 0) continue
    const value = (doc as Document).toJS() as unknown
    if (!isJsonObject(value) || value['kind'] !== 'Pod') continue
    const meta = isJsonObject(value['metadata']) ? value['metadata'] : {}
    out.push({ name: String(meta['name'] ?? ''), namespace: String(meta['namespace'] ?? 'default'), value: value as Record<string, unknown> })
  }
  return out
}

/** Parses a manifest; throws ManifestError (with a line) when it is not a kube-apiserver pod. */
export function parseApiserverManifest(file: string, text: string): ApiserverManifest {
  const lines = new LineCounter()
  const docs = parseAllDocuments(text, { lineCounter: lines })
  for (const doc of docs) {
    if ('errors' in doc && doc.errors.length > 0) {
      const e = doc.errors[0]!
      throw new ManifestError(file, e.linePos?.[0]?.line, `not valid YAML: ${e.message.split('\n')[0]}`)
    }
  }
  const lineOf = (node: unknown): number => {
    const range = (node as { range?: [number, number, number] } | undefined)?.range
    return range ? lines.linePos(range[0]).line : 0
  }
  for (const doc of docs as Document[]) {
    const root = doc.contents
    if (!isMap(root) || root.get('kind') !== 'Pod') continue
    const spec = root.get('spec')
    const containers = isMap(spec) ? spec.get('containers') : undefined
    if (!isSeq(containers)) continue
    for (const c of containers.items) {
      if (!isMap(c)) continue
      const command = c.get('command')
      const args = c.get('args')
      const argvNodes = [...(isSeq(command) ? command.items : []), ...(isSeq(args) ? args.items : [])]
      const argv = argvNodes.map((n) => String((n as { value?: unknown }).value ?? ''))
      if (c.get('name') !== 'kube-apiserver' && !(argv[0] ?? '').endsWith('kube-apiserver')) continue
      const flags: Flag[] = []
      argvNodes.forEach((n, i) => {
        const arg = argv[i]!
        if (!arg.startsWith('--')) return
        const eq = arg.indexOf('=')
        const next = argv[i + 1]
        const value = eq > 0 ? arg.slice(eq + 1) : next !== undefined && !next.startsWith('--') ? next : undefined
        flags.push({ name: eq > 0 ? arg.slice(0, eq) : arg, value, line: lineOf(n) })
      })
      const mountsNode = c.get('volumeMounts')
      const mounts: VolumeMount[] = isSeq(mountsNode)
        ? mountsNode.items.filter(isMap).map((m) => ({ name: String(m.get('name') ?? ''), mountPath: String(m.get('mountPath') ?? ''), readOnly: m.get('readOnly') === true, line: lineOf(m) }))
        : []
      const volumesNode = isMap(spec) ? spec.get('volumes') : undefined
      const volumes: HostPathVolume[] = isSeq(volumesNode)
        ? volumesNode.items.filter(isMap).flatMap((v) => {
            const hp = v.get('hostPath')
            if (!isMap(hp)) return []
            const type = hp.get('type')
            return [{ name: String(v.get('name') ?? ''), path: String(hp.get('path') ?? ''), type: type === undefined ? undefined : String(type), line: lineOf(v) }]
          })
        : []
      const meta = root.get('metadata')
      return {
        file,
        podName: isMap(meta) ? String(meta.get('name') ?? '') : '',
        namespace: isMap(meta) ? String(meta.get('namespace') ?? 'default') : 'default',
        flags,
        mounts,
        volumes,
        argv,
      }
    }
  }
  throw new ManifestError(file, undefined, 'no kube-apiserver container (a Pod with a container named kube-apiserver, or whose command is kube-apiserver)')
}

export function flagValue(m: Pick<ApiserverManifest, 'flags'>, name: string): Flag | undefined {
  // the last occurrence wins, as with Go's flag parsing
  return [...m.flags].reverse().find((f) => f.name === name)
}

/**
 * The node path behind a path inside the container: the mount with the longest matching
 * mountPath, and its hostPath volume. Undefined when nothing mounts it (it exists only inside
 * the container).
 */
export function hostPathOf(m: ApiserverManifest, containerPath: string): { hostPath: string; mount: VolumeMount; volume: HostPathVolume } | undefined {
  const candidates = m.mounts
    .filter((mt) => containerPath === mt.mountPath || containerPath.startsWith(mt.mountPath.endsWith('/') ? mt.mountPath : `${mt.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)
  for (const mount of candidates) {
    const volume = m.volumes.find((v) => v.name === mount.name)
    if (!volume) continue
    const rest = containerPath.slice(mount.mountPath.length).replace(/^\/+/, '')
    return { hostPath: rest ? `${volume.path.replace(/\/+$/, '')}/${rest}` : volume.path, mount, volume }
  }
  return undefined
}
