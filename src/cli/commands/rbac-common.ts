/**
 * @module What the `kubetrail rbac` commands share: the identity flags, the cluster of the
 * answer, where the grants come from, and -o table|wide|json|yaml|ndjson.
 */
import { resolve } from 'node:path'
import { stringify as yamlStringify } from 'yaml'
import type { OptionSpec } from '../command.js'
import { UsageError } from '../../core/errors.js'
import type { AuditStore } from '../../store/index.js'
import type { Identity } from '../../rbac/index.js'
import { parseWhen } from '../query-options.js'

export const RBAC_OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml', 'ndjson'] as const
export type RbacOutputFormat = (typeof RBAC_OUTPUT_FORMATS)[number]

export const OUTPUT_OPTION: OptionSpec = { flags: '-o, --output <format>', description: RBAC_OUTPUT_FORMATS.join('|'), default: 'table', choices: RBAC_OUTPUT_FORMATS }
export const CLUSTER_OPTION: OptionSpec = { flags: '--cluster <name>', description: 'the cluster (needed when the store holds several)' }

export const GRANTS_OPTIONS: OptionSpec[] = [
  { flags: '--rbac <file>', description: 'the cluster\'s RBAC: the output of `kubectl get roles,rolebindings,clusterroles,clusterrolebindings -A -o yaml` (default: rebuilt from the trail)' },
  { flags: '--at <when>', description: 'grants rebuilt from the trail as they were at this time (RFC 3339 or a duration ago)' },
  { flags: '--no-bootstrap', description: 'do not add the built-in system: roles and bindings the grants lack' },
]

export interface GrantsFlags {
  rbac?: string
  at?: string
  bootstrap?: boolean
}

export function grantsSourceOptions(o: GrantsFlags, cwd: string, cluster: string | undefined) {
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
  { flags: '--group <name>', description: 'a group: every member\'s requests' },
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

/** Renders a command's document in a machine format; undefined for the human ones. */
export function machineOutput(format: RbacOutputFormat, data: unknown, records: readonly unknown[]): string | undefined {
  switch (format) {
    case 'json':
      return JSON.stringify(data, null, 2) + '\n'
    case 'yaml':
      return yamlStringify(data, { lineWidth: 0 })
    case 'ndjson':
      return records.map((r) => JSON.stringify(r) + '\n').join('')
    default:
      return undefined
  }
}

/** Terminal-safe text from event-derived values (names are attacker-controlled). */
export function cell(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?')
}
