/**
 * @module The grants in force: every Role, ClusterRole and binding, indexed the way the
 * authorizer looks them up, with aggregated ClusterRoles filled in and the apiserver's built-in
 * bootstrap objects added where the source lacks them (the apiserver re-creates those at every
 * start, so a cluster always has them).
 */
import { readFileSync } from 'node:fs'
import { aggregateClusterRoles } from './aggregate.js'
import { rbacObjectFrom } from './objects.js'
import { objectKey, type Binding, type ClusterRole, type ClusterRoleBinding, type PolicyRule, type RbacObject, type Role, type RoleBinding, type RoleRef } from './types.js'

export const BOOTSTRAP_FILE = new URL('./builtin/bootstrap-1.20.json', import.meta.url)

let bootstrapObjects: RbacObject[] | undefined

/** The bootstrap policy of kube-apiserver v1.20.2, as the real apiserver created it (see the file). */
export function bootstrapPolicy(): readonly RbacObject[] {
  bootstrapObjects ??= (JSON.parse(readFileSync(BOOTSTRAP_FILE, 'utf8')) as { items: unknown[] }).items.map((i) => rbacObjectFrom(i)!)
  return bootstrapObjects
}

export interface GrantsOptions {
  /** Add the built-in bootstrap objects the source does not have (default true). */
  bootstrap?: boolean
}

export class Grants {
  readonly roles: ReadonlyMap<string, Role>
  readonly clusterRoles: ReadonlyMap<string, ClusterRole>
  readonly clusterRoleBindings: readonly ClusterRoleBinding[]
  readonly roleBindings: readonly RoleBinding[]
  /** How many objects came from the bootstrap set rather than the source. */
  readonly fromBootstrap: number
  private readonly roleBindingsByNamespace = new Map<string, RoleBinding[]>()

  private constructor(objects: readonly RbacObject[], fromBootstrap: number) {
    const roles = new Map<string, Role>()
    const clusterRoles: ClusterRole[] = []
    const crbs: ClusterRoleBinding[] = []
    const rbs: RoleBinding[] = []
    for (const o of objects) {
      if (o.kind === 'Role') roles.set(`${o.namespace}/${o.name}`, o)
      else if (o.kind === 'ClusterRole') clusterRoles.push(o)
      else if (o.kind === 'ClusterRoleBinding') crbs.push(o)
      else rbs.push(o)
    }
    this.roles = roles
    this.clusterRoles = new Map(aggregateClusterRoles(clusterRoles).map((r) => [r.name, r]))
    this.clusterRoleBindings = crbs
    this.roleBindings = rbs
    for (const b of rbs) {
      const list = this.roleBindingsByNamespace.get(b.namespace) ?? []
      list.push(b)
      this.roleBindingsByNamespace.set(b.namespace, list)
    }
    this.fromBootstrap = fromBootstrap
  }

  /** Objects later in the list replace earlier ones of the same kind, namespace and name. */
  static from(objects: readonly RbacObject[], options: GrantsOptions = {}): Grants {
    const byKey = new Map<string, RbacObject>()
    for (const o of objects) byKey.set(objectKey(o), o)
    let added = 0
    if (options.bootstrap ?? true)
      for (const o of bootstrapPolicy()) {
        const key = objectKey(o)
        if (byKey.has(key)) continue
        byKey.set(key, o)
        added++
      }
    return new Grants([...byKey.values()], added)
  }

  /** The rules a binding's roleRef resolves to (`GetRoleReferenceRules`); undefined when the role does not exist. */
  rulesOf(ref: RoleRef, bindingNamespace: string): readonly PolicyRule[] | undefined {
    if (ref.kind === 'ClusterRole') return this.clusterRoles.get(ref.name)?.rules
    if (ref.kind === 'Role' && bindingNamespace !== '') return this.roles.get(`${bindingNamespace}/${ref.name}`)?.rules
    return undefined
  }

  roleBindingsIn(namespace: string): readonly RoleBinding[] {
    return this.roleBindingsByNamespace.get(namespace) ?? []
  }

  get bindings(): Binding[] {
    return [...this.clusterRoleBindings, ...this.roleBindings]
  }

  /** Bindings whose role does not exist: they grant nothing (the apiserver skips them too). */
  danglingBindings(): Binding[] {
    return this.bindings.filter((b) => this.rulesOf(b.roleRef, b.kind === 'RoleBinding' ? b.namespace : '') === undefined)
  }

  get size(): number {
    return this.roles.size + this.clusterRoles.size + this.clusterRoleBindings.length + this.roleBindings.length
  }
}
