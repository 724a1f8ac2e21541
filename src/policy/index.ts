/**
 * @module The audit policy engine: load, validate, evaluate, lint, and replay recorded traffic
 * under a policy, with kube-apiserver's exact semantics.
 */
export type { Decision, KubeVersion, LoadedPolicy, RequestAttributes } from './types.js'
export { NEWEST_KUBERNETES, formatKubernetesVersion, parseKubernetesVersion, supports } from './version.js'
export { loadPolicyFile, loadPolicyText, parsePolicyObject, PolicyInvalidError, type LoadOptions } from './load.js'
export { validatePolicy, formatAggregate, formatValidationError, type ValidationError } from './validate.js'
export { compilePolicy, compileRuleMatcher, unionStages, type PolicyEvaluator } from './evaluate.js'
export { attributesFromEvent, attributesFromRequest, RequestInvalidError } from './attributes.js'
export { describeRule } from './describe.js'
export { goJson, replayEvent, replayVerdict, withoutManagedFields, type ReplayVerdict } from './replay.js'
export { createSimulation, mergeSimulationStates, newSimulationState, replayedBytes, summarizeSimulation, type ReplayInput, type SimulationState, type SimulationSummary, type Tally } from './simulate.js'
export { canSimulateInParallel, simulateInParallel } from './simulate-parallel.js'
export { createPolicyDiff, type DiffSide, type DiffTransition, type PolicyDiffSummary } from './diff.js'
export { lintPolicy, ruleCovers, LINT_RULES, type LintFinding, type LintSeverity } from './lint.js'
export { PRESETS, presetNames, type Preset } from './presets/index.js'
