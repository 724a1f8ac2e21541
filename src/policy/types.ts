/**
 * @module Shared shapes of the policy engine: what a request looks like to the policy, what
 * the policy decides, and a policy loaded from a file with the positions of its rules.
 */
import type { Level, Policy, PolicyRule, Stage } from '../model/index.js'
import type { InputIssue } from '../core/errors.js'

/**
 * The attributes kube-apiserver's policy checker sees for one request
 * (`authorizer.Attributes` built from `RequestInfo`). Field names follow the conformance
 * cases and `policy explain --requests`.
 */
export interface RequestAttributes {
  /** Authenticated user name; `null` when authentication failed (no user at all). */
  user: string | null
  groups: readonly string[]
  verb: string
  apiGroup: string
  resource: string
  subresource: string
  namespace: string
  name: string
  /** URL path without the query string. */
  path: string
  isResourceRequest: boolean
}

/** What the policy decides for one request (`EvaluatePolicyRule`'s result plus the rule index). */
export interface Decision {
  /** 0-based index of the first matching rule; `null` when no rule matched (level None). */
  readonly ruleIndex: number | null
  readonly level: Level
  /** Effective omitted stages: policy ∪ rule, in canonical stage order. */
  readonly omitStages: readonly Stage[]
  readonly omitManagedFields: boolean
}

/** A Kubernetes minor release, e.g. `{ major: 1, minor: 29 }`. */
export interface KubeVersion {
  readonly major: number
  readonly minor: number
}

/** A policy read from a file: the decoded object plus where each rule starts (for messages). */
export interface LoadedPolicy {
  file: string
  policy: Policy
  rules: PolicyRule[]
  /** 1-based line of each rule's first key, parallel to `rules`. */
  ruleLines: number[]
  /** Problems that do not stop the apiserver from loading the policy (reported, not fatal). */
  warnings: InputIssue[]
  kubernetesVersion: KubeVersion
  /** The file's text, for comments such as lint suppressions. */
  text: string
}
