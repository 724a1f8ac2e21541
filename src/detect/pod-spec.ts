/**
 * @module What rules ask about pod specs, as CEL functions: the pod spec inside a Pod, a
 * workload's template or a CronJob's job template, and its risky settings.
 */
import { isJsonObject, type JsonObject } from '../core/json.js'
import { podSpecOf } from '../model/index.js'

/** The pod spec of a Pod, a workload (template) or a CronJob (jobTemplate); {} otherwise. */
const specOf = (body: unknown): JsonObject => podSpecOf(body) ?? {}

function containers(spec: JsonObject): JsonObject[] {
  return ['containers', 'initContainers', 'ephemeralContainers'].flatMap((k) => (Array.isArray(spec[k]) ? (spec[k] as unknown[]).filter(isJsonObject) : []))
}

/** "privileged <container>", "hostNetwork", "hostPID", "hostIPC". */
export function privilegeSettings(body: unknown): string[] {
  const spec = specOf(body)
  const out = ['hostNetwork', 'hostPID', 'hostIPC'].filter((k) => spec[k] === true)
  for (const c of containers(spec)) if (isJsonObject(c['securityContext']) && c['securityContext']['privileged'] === true) out.push(`privileged ${String(c['name'] ?? '')}`)
  return out
}

/** hostPath volume paths. */
export function hostPaths(body: unknown): string[] {
  const vols = specOf(body)['volumes']
  return Array.isArray(vols) ? vols.filter(isJsonObject).flatMap((v) => (isJsonObject(v['hostPath']) ? [String(v['hostPath']['path'] ?? '')] : [])) : []
}

/** Linux capabilities added to any container. */
export function addedCapabilities(body: unknown): string[] {
  return containers(specOf(body)).flatMap((c) => {
    const sc = c['securityContext']
    const caps = isJsonObject(sc) && isJsonObject(sc['capabilities']) ? sc['capabilities']['add'] : undefined
    return Array.isArray(caps) ? caps.map(String) : []
  })
}

/** The rules of a Role or ClusterRole body. */
function policyRules(body: unknown): JsonObject[] {
  return isJsonObject(body) && Array.isArray(body['rules']) ? body['rules'].filter(isJsonObject) : []
}

/** Verbs and resources a role grants, flattened ("*" included). */
export function roleVerbs(body: unknown): string[] {
  return policyRules(body).flatMap((r) => (Array.isArray(r['verbs']) ? r['verbs'].map(String) : []))
}

export function roleResources(body: unknown): string[] {
  return policyRules(body).flatMap((r) => (Array.isArray(r['resources']) ? r['resources'].map(String) : []))
}
