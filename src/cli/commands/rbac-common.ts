/**
 * @module What the `kubetrail rbac` commands share: the identity flags, the cluster of the
 * answer, and where the grants come from.
 */
import { resolve } from 'node:path'
import type { OptionSpec } from '../command.js'
import { UsageError } from '../../core/errors.js'
import type { AuditStore } from '../../store/index.js'
import type { GrantsSourceOptions, Identity } from '../../rbac/index.js'
import { parseWhen } from '../query-options.js'

export const CLUSTER_OPTION: OptionSpec = { flags: '--cluster <name>', description: 'the cluster (needed when the store holds several)' }

export const GRANTS_OPTIONS: OptionSpec[] = [
  { flags: '--rbac <file>', description: "the cluster's RBAC: the output of `kubectl get roles,rolebindings,clusterroles,clusterrolebindings -A -o yaml` (default: rebuilt from the trail)" },
  { flags: '--at <when>', description: 'grants rebuilt from the trail as they were at this time (RFC 3339 or a duration ago)' },
  { flags: '--no-bootstrap', description: 'do not add the built-in system: roles and bindings the grants lack' },
]

export interface GrantsFlags {
  rbac?: string
  at?: string
  bootstrap?: boolean
}

export function grantsSourceOptions(o: GrantsFlags, cwd: string, cluster: string | undefined): GrantsSourceOptions {
  if (o.rbac !== undefined && o.at !== undefined) throw new UsageError('--at applies to grants rebuilt from the trail, not to a --rbac dump')
  return {
    ...(o.rbac !== undefined ? { rbacFile: resolve(cwd, o.rbac) } : {}),
    ...(o.at !== undefined ? { at: parseWhen(o.at, '--at') } : {}),
    ...(cluster !== undefined ? { clusters: [cluster] } : {}),
    bootstrap: o.bootstrap !== false,
  }
}

export interface IdentityFlags {
  user?: string
  serviceaccount?: string
  group?: string
}

export const IDENTITY_OPTIONS: OptionSpec[] = [
  { flags: '--user <name>', description: 'a user (the name the apiserver authenticated)' },
  { flags: '--serviceaccount <ns/name>', description: 'a service account, NAMESPACE/NAME (or NAMESPACE:NAME)' },
  { flags: '--group <name>', description: "a group: every member's requests" },
]

export function identityFrom(o: IdentityFlags): Identity {
  const given = [o.user, o.serviceaccount, o.group].filter((v) => v !== undefined)
  if (given.length !== 1) throw new UsageError('give exactly one of --user, --serviceaccount, --group')
  if (o.user !== undefined) {
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(o.user)
    return sa ? { kind: 'ServiceAccount', namespace: sa[1]!, name: sa[2]! } : { kind: 'User', name: o.user }
  }
  if (o.group !== undefined) return { kind: 'Group', name: o.group }
  const m = /^([^/:]+)[/:]([^/:]+)$/.exec(o.serviceaccount!)
  if (!m) throw new UsageError(`--serviceaccount "${o.serviceaccount}": use NAMESPACE/NAME, e.g. ci/deployer`)
  return { kind: 'ServiceAccount', namespace: m[1]!, name: m[2]! }
}

/** The cluster the answer is about: the one given, or the store's only one. */
export async function clusterOf(store: AuditStore, given: string | undefined): Promise<string | undefined> {
  if (given !== undefined) return given
  const { clusters } = await store.stats()
  if (clusters.length > 1) throw new UsageError(`the store holds several clusters (${clusters.join(', ')}): say which with --cluster`, 'Grants and usage are per cluster.')
  return clusters[0]
}

/** Grants warnings: objects that could not be read, and objects whose last change had no body. */
export function grantsWarnings(loaded: { issues: Array<{ file: string; line?: number; field?: string; message: string }>; unknown: Array<{ key: string; at: string; why: string }> }): string[] {
  return [
    ...loaded.issues.map((i) => `${i.file}${i.line ? `:${i.line}` : ''}: ${i.field ? `${i.field}: ` : ''}${i.message} (object skipped)`),
    ...loaded.unknown.map((u) => `${u.key}: changed at ${u.at}, ${u.why}: its grants are unknown`),
  ]
}
