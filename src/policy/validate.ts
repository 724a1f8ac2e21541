/**
 * @module `ValidatePolicy` from k8s.io/apiserver `pkg/apis/audit/validation/validation.go`,
 * with the exact messages of `k8s.io/apimachinery/pkg/util/validation/field`, so a user sees
 * the same words the apiserver would log when it refuses to start.
 */
import { LEVELS, STAGES, type Policy, type PolicyRule } from '../model/index.js'
import type { KubeVersion } from './types.js'
import { NEWEST_KUBERNETES, supports } from './version.js'

export interface ValidationError {
  /** The apiserver's field path, e.g. `rules[0].resources.group` (no index on resources: sic). */
  field: string
  /** The apiserver's `ErrorBody()`, e.g. `Required value`. */
  body: string
  /** Precise location for positions: keys and indexes from the policy root. */
  path: (string | number)[]
}

/** `field.Error.Error()`: `<field>: <body>`. */
export function formatValidationError(e: ValidationError): string {
  return `${e.field}: ${e.body}`
}

/** `ErrorList.ToAggregate().Error()`: one message alone, several as `[e1, e2]`, duplicates once. */
export function formatAggregate(errors: readonly ValidationError[]): string {
  const messages = [...new Set(errors.map(formatValidationError))]
  return messages.length === 1 ? messages[0]! : `[${messages.join(', ')}]`
}

function goQuote(s: string): string {
  // %q of a Go string: JSON escaping is the same for printable text
  return JSON.stringify(s)
}

/** How a []string bad value is printed: JSON from 1.34 (apimachinery c58e197e), Go's %#v before. */
function renderStringSlice(values: readonly string[], version: KubeVersion): string {
  if (supports(version, 'jsonSliceMessages')) return JSON.stringify(values)
  return `[]string{${values.map(goQuote).join(', ')}}`
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

/** `validation.NameIsDNSSubdomain(group, false)` → messages joined with "," */
function dnsSubdomainProblems(value: string): string[] {
  const msgs: string[] = []
  if (value.length > 253) msgs.push('must be no more than 253 characters')
  if (!DNS1123_SUBDOMAIN.test(value)) msgs.push(DNS1123_SUBDOMAIN_MSG)
  return msgs
}

function invalid(field: string, value: string, detail: string, path: (string | number)[]): ValidationError {
  return { field, body: `Invalid value: ${value}: ${detail}`, path }
}

function validateOmitStages(stages: readonly string[] | undefined, field: string, path: (string | number)[]): ValidationError[] {
  return (stages ?? []).flatMap((stage, i) =>
    (STAGES as readonly string[]).includes(stage)
      ? []
      : [invalid(`${field}[${i}]`, goQuote(stage), `allowed stages are ${STAGES.join(',')}`, [...path, i])],
  )
}

function validateLevel(level: string | undefined, field: string, path: (string | number)[]): ValidationError[] {
  if (level === undefined || level === '') return [{ field, body: 'Required value', path }]
  if ((LEVELS as readonly string[]).includes(level)) return []
  return [{ field, body: `Unsupported value: ${goQuote(level)}: supported values: ${LEVELS.map(goQuote).join(', ')}`, path }]
}

function validateNonResourceURLs(urls: readonly string[] | undefined, field: string, path: (string | number)[]): ValidationError[] {
  const errs: ValidationError[] = []
  ;(urls ?? []).forEach((url, i) => {
    if (url === '*') return
    if (!url.startsWith('/')) errs.push(invalid(`${field}[${i}]`, goQuote(url), "non-resource URL rules must begin with a '/' character", [...path, i]))
    if (url !== '' && url.slice(0, -1).includes('*'))
      errs.push(invalid(`${field}[${i}]`, goQuote(url), "non-resource URL wildcards '*' must be the final character of the rule", [...path, i]))
  })
  return errs
}

function validateResources(rule: PolicyRule, field: string, path: (string | number)[], version: KubeVersion): ValidationError[] {
  const errs: ValidationError[] = []
  const wildcardOk = supports(version, 'groupWildcard')
  ;(rule.resources ?? []).forEach((gr, i) => {
    const group = gr.group ?? ''
    if (group !== '' && !(wildcardOk && group === '*')) {
      const msgs = dnsSubdomainProblems(group)
      if (msgs.length > 0) errs.push(invalid(`${field}.group`, goQuote(group), msgs.join(','), [...path, i, 'group']))
    }
    if ((gr.resourceNames?.length ?? 0) > 0 && (gr.resources?.length ?? 0) === 0)
      errs.push(
        invalid(`${field}.resourceNames`, renderStringSlice(gr.resourceNames!, version), 'using resourceNames requires at least one resource', [
          ...path,
          i,
          'resourceNames',
        ]),
      )
  })
  return errs
}

function validateRule(rule: PolicyRule, i: number, version: KubeVersion): ValidationError[] {
  const f = `rules[${i}]`
  const p = ['rules', i]
  const errs = [
    ...validateLevel(rule.level, `${f}.level`, [...p, 'level']),
    ...validateNonResourceURLs(rule.nonResourceURLs, `${f}.nonResourceURLs`, [...p, 'nonResourceURLs']),
    ...validateResources(rule, `${f}.resources`, [...p, 'resources'], version),
    ...validateOmitStages(rule.omitStages, `${f}.omitStages`, [...p, 'omitStages']),
  ]
  if ((rule.nonResourceURLs?.length ?? 0) > 0 && ((rule.resources?.length ?? 0) > 0 || (rule.namespaces?.length ?? 0) > 0))
    errs.push(
      invalid(
        `${f}.nonResourceURLs`,
        renderStringSlice(rule.nonResourceURLs!, version),
        'rules cannot apply to both regular resources and non-resource URLs',
        [...p, 'nonResourceURLs'],
      ),
    )
  return errs
}

/** Every error `ValidatePolicy` reports, in its order. An empty list means valid. */
export function validatePolicy(policy: Policy, version: KubeVersion = NEWEST_KUBERNETES): ValidationError[] {
  return [
    ...validateOmitStages(policy.omitStages, 'omitStages', ['omitStages']),
    ...(policy.rules ?? []).flatMap((rule, i) => validateRule(rule, i, version)),
  ]
}
