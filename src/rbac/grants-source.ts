/**
 * @module Where the grants come from: a dump of the cluster's RBAC (`--rbac FILE`), or the RBAC
 * objects' history in the trail at a given time. Either way the built-in bootstrap objects fill
 * what the source lacks.
 */
import type { InputIssue } from '../core/errors.js'
import type { AuditStore } from '../store/index.js'
import { Grants } from './grants.js'
import { rbacHistoryFromStore } from './history.js'
import { loadRbacFile } from './load.js'

export interface GrantsSourceOptions {
  /** A dump file; without it the grants are rebuilt from the trail. */
  rbacFile?: string
  /** Trail only: the grants in force at this time (default: after every stored change). */
  at?: Date
  clusters?: string[]
  bootstrap?: boolean
}

export interface LoadedGrants {
  grants: Grants
  /** What the grants were read from, for people. */
  source: string
  /** Objects read from the source (without the bootstrap ones). */
  objects: number
  issues: InputIssue[]
  /** Trail only: objects whose last change was logged without a body (their grants are unknown). */
  unknown: Array<{ key: string; at: string; why: string }>
}

export async function loadGrants(store: AuditStore | undefined, options: GrantsSourceOptions): Promise<LoadedGrants> {
  const bootstrap = options.bootstrap ?? true
  if (options.rbacFile !== undefined) {
    const loaded = loadRbacFile(options.rbacFile)
    return { grants: Grants.from(loaded.objects, { bootstrap }), source: options.rbacFile, objects: loaded.objects.length, issues: loaded.issues, unknown: [] }
  }
  if (!store) throw new Error('grants from the trail need a store')
  const history = await rbacHistoryFromStore(store, { clusters: options.clusters, until: options.at })
  const state = history.stateAt(options.at)
  return {
    grants: Grants.from(state.objects, { bootstrap }),
    source: `the trail's RBAC history${options.at ? ` at ${options.at.toISOString()}` : ''} (${history.changes.length} changes)`,
    objects: state.objects.length,
    issues: [],
    unknown: state.unknown.map((c) => ({ key: c.key, at: c.at, why: c.unknown ?? '' })),
  }
}
