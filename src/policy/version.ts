/**
 * @module The Kubernetes releases whose audit behaviour differs, and `--kubernetes-version`.
 * Each feature names the first release that has it (from `git tag --contains` on
 * kubernetes/apiserver and kubernetes/apimachinery; see research/conformance-verification.md).
 */
import { UsageError } from '../core/errors.js'
import type { KubeVersion } from './types.js'

/** The newest release kubetrail knows; the default target. */
export const NEWEST_KUBERNETES: KubeVersion = Object.freeze({ major: 1, minor: 37 })

const FEATURES = {
  /** `omitManagedFields` on policy and rules (7afcd94e); older apiservers ignore the key. */
  omitManagedFields: 23,
  /** From 1.24 only `audit.k8s.io/v1` policies load; v1alpha1/v1beta1 were removed (871a4b72). */
  v1OnlyPolicy: 24,
  /** The policy loader tries strict decoding, logs the error and falls back to lenient. */
  strictThenLenientDecoding: 26,
  /** Field errors render slice values as JSON (`["/logs*"]`) instead of Go `[]string{...}` (apimachinery c58e197e). */
  jsonSliceMessages: 34,
  /** `group: "*"` matches every API group (6728d949); before, validation rejects it. */
  groupWildcard: 36,
} as const

export type VersionedFeature = keyof typeof FEATURES

export function supports(version: KubeVersion, feature: VersionedFeature): boolean {
  return version.major > 1 || version.minor >= FEATURES[feature]
}

/** Accepts `1.29`, `v1.29`, `1.29.3`, `v1.29.3-gke.100`. */
export function parseKubernetesVersion(text: string | undefined): KubeVersion {
  if (text === undefined || text === '') return NEWEST_KUBERNETES
  const m = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(text.trim())
  if (!m) throw new UsageError(`--kubernetes-version "${text}" is not a Kubernetes version`, 'Use a release like 1.29 or v1.29.3.')
  const version = { major: Number(m[1]), minor: Number(m[2]) }
  if (version.major !== 1 || version.minor < 19)
    throw new UsageError(`--kubernetes-version ${text}: kubetrail knows the audit behaviour of Kubernetes 1.19 and later`)
  return version
}

export function formatKubernetesVersion(v: KubeVersion): string {
  return `${v.major}.${v.minor}`
}
