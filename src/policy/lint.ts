/**
 * @module `policy lint`: problems kube-apiserver accepts without a word. Every finding is true
 * under the apiserver's exact matching semantics: rule coverage is decided structurally (sound:
 * a rule is only called dead when an earlier rule provably matches everything it could), and
 * "what happens to request X" questions are answered by running the real evaluator on a request
 * built to fit the rule in question.
 *
 * Finding ids are stable (documented in docs/lint-rules.md). A comment
 * `# kubetrail:ignore <id> <reason>` on a rule's lines (or just above it) silences that id for
 * the rule; above the first rule it applies to policy-wide findings.
 */
import type { GroupResources, Level, PolicyRule } from '../model/index.js'
import { builtinGroupsOf, levelAtLeast } from '../model/index.js'
import { compilePolicy, compileRuleMatcher, type PolicyEvaluator } from './evaluate.js'
import type { KubeVersion, LoadedPolicy, RequestAttributes } from './types.js'
import { supports } from './version.js'

export type LintSeverity = 'error' | 'warning' | 'info'

export interface LintFinding {
  id: string
  line: number
  severity: LintSeverity
  message: string
  /** 0-based rule index, when the finding is about one rule. */
  rule?: number
}

export const LINT_RULES: Record<string, { severity: LintSeverity; summary: string }> = {
  'shadowed-rule': { severity: 'error', summary: 'an earlier rule matches every request this rule could match, so it never applies (first match wins)' },
  'wrong-api-group': { severity: 'error', summary: 'a resource named under an API group it does not belong to never matches' },
  'impossible-resource': { severity: 'error', summary: 'a resource pattern that matches no request (e.g. "*/*")' },
  'resource-names-on-create': { severity: 'error', summary: 'resourceNames with only verb create never matches: a create has no name when the policy is evaluated' },
  'verb-never-matches': { severity: 'warning', summary: 'a verb that cannot occur for the kind of request the rule matches (Kubernetes verbs vs lower-case HTTP methods), or an unknown verb' },
  'sensitive-data-logged': { severity: 'warning', summary: 'Secret, ConfigMap or token values are written to the audit log at Request/RequestResponse level' },
  'exec-create-only': { severity: 'warning', summary: 'exec/attach/portforward matched only with verb create: kubectl >= 1.30 uses WebSockets (verb get)' },
  'failed-logins-not-audited': { severity: 'warning', summary: 'ResponseStarted is omitted where failed logins (401) land: they are emitted at that stage only' },
  'no-catch-all': { severity: 'warning', summary: 'no final rule matches every request: requests matching no rule are not audited at all' },
  'request-received-logged': { severity: 'info', summary: 'RequestReceived is not omitted: every request is logged (at least) twice' },
  'bodies-for-high-volume-reads': { severity: 'warning', summary: 'RequestResponse for get/list/watch of high-volume resources: response bodies dominate log volume' },
}

// ---------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------

function groupLabel(g: string): string {
  return g === '' ? 'the core group ("")' : `"${g}"`
}

const RESOURCE_VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy', 'use', 'bind', 'escalate', 'impersonate', 'approve', 'sign', 'attest'])
const HTTP_ONLY_VERBS = new Set(['post', 'put', 'head', 'options', 'connect', 'trace'])
const NON_RESOURCE_VERBS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options'])

// ---------------------------------------------------------------------------------------------
// Structural coverage: does rule A match every request rule B can match?

const nonEmpty = (l: readonly string[] | undefined): l is readonly string[] => l !== undefined && l.length > 0
const subset = (b: readonly string[], a: readonly string[]) => b.every((x) => a.includes(x))

/** A list condition of A admits everything B's does ("empty = any"). */
function listCovers(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (!nonEmpty(a)) return true
  return nonEmpty(b) && subset(b, a)
}

type Target = 'any' | 'resource' | 'nonResource'
function targetOf(r: PolicyRule): Target {
  if (nonEmpty(r.namespaces) || (r.resources?.length ?? 0) > 0) return 'resource'
  if (nonEmpty(r.nonResourceURLs)) return 'nonResource'
  return 'any'
}

/** Every request `b` (one pattern) matches is matched by some pattern in `a`. */
function resourcePatternCovered(b: string, a: readonly string[]): boolean {
  if (a.includes('*') || a.includes(b)) return true
  const slash = b.indexOf('/')
  if (b === '*') return false
  if (b.startsWith('*/')) return false // any resource with that subresource: only "*" (handled) or itself
  if (b.endsWith('/*')) return false // parent + all subresources: only "*" or itself
  if (slash < 0) return a.includes(`${b}/*`)
  const [res, sub] = [b.slice(0, slash), b.slice(slash + 1)]
  return a.includes(`${res}/*`) || a.includes(`*/${sub}`)
}

function groupResourcesCovered(b: GroupResources, a: GroupResources, version: KubeVersion): boolean {
  const ag = a.group ?? ''
  const bg = b.group ?? ''
  const wildcard = supports(version, 'groupWildcard')
  if (!(ag === bg || (wildcard && ag === '*'))) return false
  if (!nonEmpty(a.resources)) return true // whole group (resourceNames are not consulted then)
  if (!nonEmpty(b.resources)) return false
  if (nonEmpty(a.resourceNames) && !(nonEmpty(b.resourceNames) && subset(b.resourceNames, a.resourceNames))) return false
  return b.resources.every((r) => resourcePatternCovered(r, a.resources!))
}

function urlCovered(b: string, a: readonly string[]): boolean {
  if (a.includes('*') || a.includes(b)) return true
  const bPrefix = b.endsWith('*') ? b.replace(/\*+$/, '') : undefined
  return a.some((spec) => {
    if (!spec.endsWith('*')) return false
    const prefix = spec.replace(/\*+$/, '')
    return (bPrefix ?? b).startsWith(prefix)
  })
}

/** Sound (never claims coverage that does not hold). */
export function ruleCovers(a: PolicyRule, b: PolicyRule, version: KubeVersion): boolean {
  if (!listCovers(a.users, b.users) || !listCovers(a.userGroups, b.userGroups) || !listCovers(a.verbs, b.verbs)) return false
  const ta = targetOf(a)
  const tb = targetOf(b)
  if (ta === 'any') return true
  if (ta !== tb) return false
  if (ta === 'resource') {
    if (!listCovers(a.namespaces, b.namespaces)) return false
    if ((a.resources?.length ?? 0) === 0) return true
    if ((b.resources?.length ?? 0) === 0) return false
    return b.resources!.every((gb) => a.resources!.some((ga) => groupResourcesCovered(gb, ga, version)))
  }
  return b.nonResourceURLs!.every((u) => urlCovered(u, a.nonResourceURLs!))
}

function isCatchAll(r: PolicyRule): boolean {
  return !nonEmpty(r.users) && !nonEmpty(r.userGroups) && !nonEmpty(r.verbs) && targetOf(r) === 'any'
}

// ---------------------------------------------------------------------------------------------
// Requests built to fit a rule, answered by the real evaluator.

interface Sample {
  resource: string
  subresource?: string
  apiGroup: string
  verbs: readonly string[]
}

/** A request this rule could match (user, groups, namespace picked from the rule), or undefined. */
function sampleFor(rule: PolicyRule, s: Sample, verb: string): RequestAttributes {
  return {
    user: rule.users?.[0] ?? 'kubetrail-lint:sample-user',
    groups: rule.userGroups?.[0] ? [rule.userGroups[0], 'system:authenticated'] : ['system:authenticated'],
    verb,
    apiGroup: s.apiGroup,
    resource: s.resource,
    subresource: s.subresource ?? '',
    namespace: rule.namespaces?.[0] ?? 'default',
    name: verb === 'create' || verb === 'list' || verb === 'watch' ? '' : (rule.resources?.find((g) => nonEmpty(g.resourceNames))?.resourceNames?.[0] ?? 'sample'),
    path: `/api/v1/namespaces/default/${s.resource}`,
    isResourceRequest: true,
  }
}

/** Verbs of `s` this rule is the first match for, at level >= min. */
function verbsDecidedBy(evaluator: PolicyEvaluator, i: number, rule: PolicyRule, s: Sample, min: Level): string[] {
  return s.verbs.filter((v) => {
    const d = evaluator.evaluate(sampleFor(rule, s, v))
    return d.ruleIndex === i && levelAtLeast(d.level, min)
  })
}

const SENSITIVE: Array<Sample & { what: string; request: readonly string[]; response: readonly string[] }> = [
  { resource: 'secrets', apiGroup: '', what: 'Secret data (base64, not encrypted)', verbs: [], request: ['create', 'update', 'patch'], response: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { resource: 'configmaps', apiGroup: '', what: 'ConfigMap data (often credentials in practice)', verbs: [], request: ['create', 'update', 'patch'], response: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { resource: 'serviceaccounts', subresource: 'token', apiGroup: '', what: 'issued service-account tokens (TokenRequest status.token)', verbs: [], request: [], response: ['create'] },
  { resource: 'tokenreviews', apiGroup: 'authentication.k8s.io', what: 'bearer tokens under review (TokenReview spec.token)', verbs: [], request: ['create'], response: ['create'] },
]

const HIGH_VOLUME: Sample[] = ['pods', 'nodes', 'endpoints', 'events'].map((r) => ({ resource: r, apiGroup: '', verbs: ['get', 'list', 'watch'] }))
HIGH_VOLUME.push({ resource: 'leases', apiGroup: 'coordination.k8s.io', verbs: ['get', 'list', 'watch'] }, { resource: 'endpointslices', apiGroup: 'discovery.k8s.io', verbs: ['get', 'list', 'watch'] })

const INTERACTIVE = ['exec', 'attach', 'portforward']

// ---------------------------------------------------------------------------------------------

interface Context {
  loaded: LoadedPolicy
  evaluator: PolicyEvaluator
  version: KubeVersion
  findings: LintFinding[]
}

function add(ctx: Context, id: string, line: number, message: string, rule?: number): void {
  ctx.findings.push({ id, line, severity: LINT_RULES[id]!.severity, message, ...(rule === undefined ? {} : { rule }) })
}

function ruleRef(ctx: Context, i: number): string {
  return `rule #${i} (line ${ctx.loaded.ruleLines[i]})`
}

function checkShadowing(ctx: Context): void {
  const rules = ctx.loaded.rules
  for (let j = 1; j < rules.length; j++) {
    const i = rules.slice(0, j).findIndex((a) => ruleCovers(a, rules[j]!, ctx.version))
    if (i < 0) continue
    const why = isCatchAll(rules[i]!) ? `${ruleRef(ctx, i)} matches every request` : `${ruleRef(ctx, i)} matches every request this rule could match`
    add(ctx, 'shadowed-rule', ctx.loaded.ruleLines[j]!, `${ruleRef(ctx, j)} never applies: ${why}, and the first matching rule wins. Move it above ${ruleRef(ctx, i)} or remove it.`, j)
  }
}

function checkResources(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    const line = ctx.loaded.ruleLines[i]!
    for (const gr of rule.resources ?? []) {
      const group = gr.group ?? ''
      for (const res of gr.resources ?? []) {
        const base = res.split('/')[0]!
        const homes = builtinGroupsOf(base)
        if (homes !== undefined && !homes.includes(group) && group !== '*')
          add(ctx, 'wrong-api-group', line, `${ruleRef(ctx, i)}: "${res}" is in API group ${homes.map(groupLabel).join(' or ')}, not ${groupLabel(group)}, so this entry never matches it. Use group: "${homes[0]}".`, i)
        if (res === '*/*' || /^[^/]*\/[^/]*\/.*/.test(res))
          add(ctx, 'impossible-resource', line, `${ruleRef(ctx, i)}: resource pattern "${res}" matches no request (use "*" for every resource and subresource, "pods/*" for pods and its subresources, "*/status" for one subresource of every resource).`, i)
      }
      if (nonEmpty(gr.resourceNames) && nonEmpty(rule.verbs) && rule.verbs.every((v) => v === 'create'))
        add(ctx, 'resource-names-on-create', line, `${ruleRef(ctx, i)}: resourceNames never match a create: the name comes from the request body, but the policy sees only the URL, which has none.`, i)
    }
  })
}

function checkVerbs(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    if (!nonEmpty(rule.verbs)) return
    const line = ctx.loaded.ruleLines[i]!
    const target = targetOf(rule)
    for (const verb of rule.verbs) {
      if (target === 'nonResource' && !NON_RESOURCE_VERBS.has(verb)) {
        const hint = RESOURCE_VERBS.has(verb) ? `"${verb}" is a Kubernetes verb; non-resource URLs get the lower-case HTTP method (get, post, put, patch, delete, head)` : `"${verb}" is not a lower-case HTTP method`
        add(ctx, 'verb-never-matches', line, `${ruleRef(ctx, i)}: verb "${verb}" never matches a non-resource URL: ${hint}.`, i)
      } else if (target === 'resource' && !RESOURCE_VERBS.has(verb)) {
        const hint = HTTP_ONLY_VERBS.has(verb) ? `resource requests use Kubernetes verbs (POST is "create", PUT is "update")` : `verbs are exact and case-sensitive (known: ${[...RESOURCE_VERBS].slice(0, 8).join(', ')}, …)`
        add(ctx, 'verb-never-matches', line, `${ruleRef(ctx, i)}: verb "${verb}" never matches a resource request: ${hint}.`, i)
      } else if (target === 'any' && !RESOURCE_VERBS.has(verb) && !NON_RESOURCE_VERBS.has(verb)) {
        add(ctx, 'verb-never-matches', line, `${ruleRef(ctx, i)}: verb "${verb}" is neither a Kubernetes verb nor a lower-case HTTP method, so it never matches (verbs are case-sensitive).`, i)
      }
    }
  })
}

function checkSensitive(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    for (const s of SENSITIVE) {
      const viaRequest = verbsDecidedBy(ctx.evaluator, i, rule, { ...s, verbs: s.request }, 'Request')
      const viaResponse = verbsDecidedBy(ctx.evaluator, i, rule, { ...s, verbs: s.response }, 'RequestResponse')
      if (viaRequest.length === 0 && viaResponse.length === 0) continue
      const name = s.subresource ? `${s.resource}/${s.subresource}` : s.resource
      const parts = []
      if (viaRequest.length > 0) parts.push(`request bodies of ${viaRequest.join('/')}`)
      if (viaResponse.length > 0) parts.push(`response bodies of ${viaResponse.join('/')}`)
      add(
        ctx,
        'sensitive-data-logged',
        ctx.loaded.ruleLines[i]!,
        `${ruleRef(ctx, i)} logs ${rule.level} for ${name}: ${parts.join(' and ')} put ${s.what} in the audit log. Log ${name} at Metadata in an earlier rule.`,
        i,
      )
    }
  })
}

function checkInteractive(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    if (!nonEmpty(rule.verbs) || !rule.verbs.includes('create') || rule.verbs.includes('get')) return
    // only rules written about interactive access: a generic "all writes" rule is not
    const named = (rule.resources ?? []).flatMap((g) => g.resources ?? [])
    const matcher = compileRuleMatcher(rule, ctx.version)
    const subs = INTERACTIVE.filter(
      (sub) => (named.includes(`pods/${sub}`) || named.includes(`*/${sub}`)) && matcher(sampleFor(rule, { resource: 'pods', subresource: sub, apiGroup: '', verbs: [] }, 'create')),
    )
    if (subs.length === 0) return
    const viaGet = ctx.evaluator.evaluate(sampleFor(rule, { resource: 'pods', subresource: subs[0]!, apiGroup: '', verbs: [] }, 'get'))
    const fallsTo = viaGet.ruleIndex === null ? 'no rule (not audited at all)' : `${ruleRef(ctx, viaGet.ruleIndex)} at level ${viaGet.level}`
    add(
      ctx,
      'exec-create-only',
      ctx.loaded.ruleLines[i]!,
      `${ruleRef(ctx, i)} matches pods/${subs.join(', pods/')} only with verb create (SPDY, a POST). kubectl >= 1.30 uses WebSockets, an HTTP GET, so those sessions are verb "get" and fall to ${fallsTo}. Add "get" to verbs.`,
      i,
    )
  })
}

/** A failed login: no user, verb from the URL; any path. */
const FAILED_LOGINS: RequestAttributes[] = [
  { user: null, groups: [], verb: 'get', apiGroup: '', resource: 'pods', subresource: '', namespace: 'default', name: '', path: '/api/v1/namespaces/default/pods', isResourceRequest: true },
  { user: null, groups: [], verb: 'get', apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path: '/api', isResourceRequest: false },
]

function checkFailedLogins(ctx: Context): void {
  for (const req of FAILED_LOGINS) {
    const d = ctx.evaluator.evaluate(req)
    if (d.level === 'None' || !d.omitStages.includes('ResponseStarted')) continue
    const where = ctx.loaded.policy.omitStages?.includes('ResponseStarted') ? 'the policy-level omitStages' : `${ruleRef(ctx, d.ruleIndex!)}'s omitStages`
    const line = ctx.loaded.policy.omitStages?.includes('ResponseStarted') ? 1 : ctx.loaded.ruleLines[d.ruleIndex!]!
    add(
      ctx,
      'failed-logins-not-audited',
      line,
      `${where} omits ResponseStarted, and a failed login (401, no user) reaching ${d.ruleIndex === null ? 'no rule' : ruleRef(ctx, d.ruleIndex)} is emitted at ResponseStarted only: failed logins are silently not audited. Keep ResponseStarted (it also marks the start of watches and exec sessions).`,
      d.ruleIndex ?? undefined,
    )
    return
  }
}

function checkCatchAll(ctx: Context): void {
  const rules = ctx.loaded.rules
  if (rules.some(isCatchAll)) return
  const unlogged = [
    { label: 'a delete of a ConfigMap by a user', attrs: { user: 'someone', groups: ['system:authenticated'], verb: 'delete', apiGroup: '', resource: 'configmaps', subresource: '', namespace: 'default', name: 'x', path: '', isResourceRequest: true } },
    { label: 'a create of a custom resource', attrs: { user: 'someone', groups: ['system:authenticated'], verb: 'create', apiGroup: 'example.com', resource: 'widgets', subresource: '', namespace: 'default', name: '', path: '', isResourceRequest: true } },
    { label: 'a request to a non-resource URL such as /version', attrs: { user: 'someone', groups: ['system:authenticated'], verb: 'get', apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path: '/version', isResourceRequest: false } },
    { label: 'a failed login', attrs: FAILED_LOGINS[0]! },
  ].filter((s) => ctx.evaluator.evaluate(s.attrs).ruleIndex === null)
  const examples = unlogged.length > 0 ? ` For example ${unlogged.map((u) => u.label).join(', ')} would not be logged.` : ''
  add(ctx, 'no-catch-all', ctx.loaded.ruleLines[rules.length - 1] ?? 1, `No rule matches every request: requests that match no rule get level None and are not audited at all.${examples} End with "- level: Metadata" (or an explicit "- level: None" if that is intended).`)
}

function checkRequestReceived(ctx: Context): void {
  if (ctx.loaded.policy.omitStages?.includes('RequestReceived')) return
  const logging = ctx.evaluator.ruleDecisions.filter((d) => d.level !== 'None' && !d.omitStages.includes('RequestReceived'))
  if (logging.length === 0) return
  add(ctx, 'request-received-logged', 1, `RequestReceived is not omitted (${logging.length} rule(s) log it): every request is written at least twice, once when it arrives and once when it completes, which roughly doubles the log. Add "omitStages: [RequestReceived]" at the policy level unless you need the arrival record.`)
}

function checkHighVolumeReads(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    const hits = HIGH_VOLUME.map((s) => ({ s, verbs: verbsDecidedBy(ctx.evaluator, i, rule, s, 'RequestResponse') })).filter((h) => h.verbs.length > 0)
    if (hits.length === 0) return
    const what = hits.map((h) => h.s.resource).join(', ')
    add(ctx, 'bodies-for-high-volume-reads', ctx.loaded.ruleLines[i]!, `${ruleRef(ctx, i)} logs RequestResponse for get/list/watch of ${what}: controllers and kubelets read these constantly and every list response is written whole (often hundreds of KB). Use Metadata for reads of these resources in an earlier rule.`, i)
  })
}

/** `# kubetrail:ignore <id>[,<id>...] [reason]` comments, by the line they stand on. */
function suppressions(text: string): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>()
  text.split('\n').forEach((line, idx) => {
    const m = /#\s*kubetrail:ignore\s+([a-z0-9,-]+)/.exec(line)
    if (m) out.set(idx + 1, new Set(m[1]!.split(',')))
  })
  return out
}

function isSuppressed(f: LintFinding, loaded: LoadedPolicy, ignores: Map<number, Set<string>>, textLines: string[]): boolean {
  const starts = loaded.ruleLines
  let from: number
  let to: number
  if (f.rule === undefined) {
    ;[from, to] = [1, (starts[0] ?? Infinity) - 1]
  } else {
    // the rule's own lines, and the comment block right above it
    to = (starts[f.rule + 1] ?? Infinity) - 1
    from = starts[f.rule]!
    while (from > 1 && /^\s*(#.*)?$/.test(textLines[from - 2] ?? '')) from--
  }
  for (const [line, ids] of ignores) if (line >= from && line <= to && ids.has(f.id)) return true
  return false
}

export function lintPolicy(loaded: LoadedPolicy): LintFinding[] {
  const ctx: Context = { loaded, evaluator: compilePolicy(loaded.policy, { kubernetesVersion: loaded.kubernetesVersion }), version: loaded.kubernetesVersion, findings: [] }
  checkShadowing(ctx)
  checkResources(ctx)
  checkVerbs(ctx)
  checkSensitive(ctx)
  checkInteractive(ctx)
  checkFailedLogins(ctx)
  checkCatchAll(ctx)
  checkRequestReceived(ctx)
  checkHighVolumeReads(ctx)
  const ignores = suppressions(loaded.text)
  const textLines = loaded.text.split('\n')
  return ctx.findings.filter((f) => !isSuppressed(f, loaded, ignores, textLines)).sort((a, b) => a.line - b.line || a.id.localeCompare(b.id))
}
