/**
 * @module Cluster names: one store holds many clusters, named on import, in the collector's URL
 * and in kubeconfigs. The same rule everywhere (a DNS-label-like word, at most 63 characters).
 */
import { UsageError } from './errors.js'

export const CLUSTER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/

export const CLUSTER_NAME_RULE = 'use letters, digits, ".", "_" and "-"'

/** Throws a usage error naming the flag when `name` is not a cluster name. */
export function checkClusterFlag(name: string, flag = '--cluster'): void {
  if (!CLUSTER_NAME.test(name)) throw new UsageError(`${flag} "${name}": ${CLUSTER_NAME_RULE}`)
}
