/**
 * @module `policy lint`: problems kube-apiserver accepts without a word. Every finding is true
 * under the apiserver's exact matching semantics (k8s.io/apiserver `pkg/audit/policy/checker.go`):
 * rule coverage is decided structurally and soundly (a rule is only called dead when an earlier
 * rule provably matches everything it could), and "what happens to request X" questions are
 * answered by running the real evaluator on concrete requests built to fit the rule in question,
 * so every such finding has a counterexample behind it.
 *
 * Finding ids are stable (documented in docs/lint-rules.md). A comment
 * `# kubetrail:ignore <id> <reason>` on a rule's lines (or just above it) silences that id for
 * the rule; above the first rule it applies to policy-wide findings.
 */
import type { GroupResources, Level, PolicyRule } from '../model/index.js'
import { builtinGroupsOf, levelAtLeast } from '../model/index.js'
import { compilePolicy, compileRuleMatcher, type PolicyEvaluator } from './evaluate.js'
import type { Decision, KubeVersion, LoadedPolicy, RequestAttributes } from './types.js'
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
  'wrong-api-group': { severity: 'error', summary: 'a built-in resource named under an API group that does not serve it never matches' },
  'group-not-a-group': { severity: 'error', summary: 'group is a version ("v1") or "core": no such API group exists (the core group is "")' },
  'impossible-resource': { severity: 'error', summary: 'a resource pattern that matches no request (e.g. "*/*", "pods/log/x", "pods/")' },
  'resource-names-on-create': { severity: 'error', summary: 'resourceNames with only verb create on whole resources never matches: a create has no name when the policy is evaluated' },
  'verb-never-matches': { severity: 'error', summary: 'a verb that no request of the kind the rule matches can carry (Kubernetes verbs vs lower-case HTTP methods, RBAC-only verbs, unknown or upper-case verbs)' },
  'sensitive-data-logged': { severity: 'warning', summary: 'Secret, ConfigMap or token values are written to the audit log at Request/RequestResponse level' },
  'exec-create-only': { severity: 'warning', summary: 'exec/attach/portforward matched only with verb create: kubectl >= 1.30 uses WebSockets (verb get), which another rule decides differently' },
  'failed-logins-not-audited': { severity: 'warning', summary: 'ResponseStarted is omitted where failed logins (401) land: they are emitted at that stage only' },
  'identity-misses-failed-logins': { severity: 'info', summary: 'a rule for anonymous users (system:anonymous / system:unauthenticated) does not see failed logins, which have no user at all' },
  'no-catch-all': { severity: 'warning', summary: 'some kinds of requests match no rule and are not audited at all' },
  'request-received-logged': { severity: 'info', summary: 'RequestReceived is not omitted: every request is logged (at least) twice' },
  'bodies-for-high-volume-reads': { severity: 'warning', summary: 'RequestResponse for get/list of high-volume resources: response bodies dominate log volume' },
  'loader-warning': { severity: 'warning', summary: 'the apiserver loads the policy but ignores part of it (e.g. omitManagedFields before 1.23, a deprecated apiVersion)' },
}

function groupLabel(g: string): string {
  return g === '' ? 'the core group ("")' : `"${g}"`
}

// ---------------------------------------------------------------------------------------------
// Verbs. RequestInfo (pkg/endpoints/request/requestinfo.go) gives resource requests one of a
// fixed set of verbs, and non-resource requests the lower-cased HTTP method.

const RESOURCE_VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy'])
/** Verbs RBAC checks as extra permissions; never the verb of a request the audit policy sees. */
const AUTHORIZATION_ONLY_VERBS = new Set(['use', 'bind', 'escalate', 'impersonate', 'approve', 'sign', 'attest'])
const HTTP_METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'connect', 'trace'])

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

/** Every (resource, subresource) pattern `b` matches is matched by some pattern in `a`. */
function resourcePatternCovered(b: string, a: readonly string[]): boolean {
  if (a.includes('*') || a.includes(b)) return true
  if (b === '*' || b.startsWith('*/') || b.endsWith('/*')) return false // only "*" or the same pattern cover these
  const slash = b.indexOf('/')
  if (slash < 0) return a.includes(`${b}/*`)
  return a.includes(`${b.slice(0, slash)}/*`) || a.includes(`*/${b.slice(slash + 1)}`)
}

/** The entry matches every resource of its group(s): no resources listed, or "*" with no resourceNames. */
function coversWholeGroup(a: GroupResources): boolean {
  return !nonEmpty(a.resources) || (a.resources.includes('*') && !nonEmpty(a.resourceNames))
}

function groupAdmits(aGroup: string, bGroup: string, version: KubeVersion): boolean {
  return aGroup === bGroup || (aGroup === '*' && supports(version, 'groupWildcard'))
}

/** Each resource of entry `b` is covered by some entry of `as` (not necessarily the same one). */
function entryCovered(b: GroupResources, as: readonly GroupResources[], version: KubeVersion): boolean {
  const candidates = as.filter((a) => groupAdmits(a.group ?? '', b.group ?? '', version))
  if (candidates.some(coversWholeGroup)) return true
  if (!nonEmpty(b.resources)) return false
  const namesAdmit = (a: GroupResources) => !nonEmpty(a.resourceNames) || (nonEmpty(b.resourceNames) && subset(b.resourceNames, a.resourceNames))
  return b.resources.every((r) => candidates.some((a) => namesAdmit(a) && resourcePatternCovered(r, a.resources ?? [])))
}

function urlCovered(b: string, a: readonly string[]): boolean {
  if (a.includes('*') || a.includes(b)) return true
  const bPrefix = b.endsWith('*') ? b.replace(/\*+$/, '') : undefined
  return a.some((spec) => spec.endsWith('*') && (bPrefix ?? b).startsWith(spec.replace(/\*+$/, '')))
}

/** Sound (never claims coverage that does not hold); exactness is checked by property tests. */
export function ruleCovers(a: PolicyRule, b: PolicyRule, version: KubeVersion): boolean {
  if (!listCovers(a.users, b.users) || !listCovers(a.userGroups, b.userGroups) || !listCovers(a.verbs, b.verbs)) return false
  const ta = targetOf(a)
  const tb = targetOf(b)
  if (ta === 'any') return true
  if (ta !== tb) return false
  if (ta === 'nonResource') return b.nonResourceURLs!.every((u) => urlCovered(u, a.nonResourceURLs!))
  if (!listCovers(a.namespaces, b.namespaces)) return false
  const as = a.resources ?? []
  if (as.length === 0) return true
  if (supports(version, 'groupWildcard') && as.some((g) => g.group === '*' && coversWholeGroup(g))) return true
  const bs = b.resources ?? []
  return bs.length > 0 && bs.every((gb) => entryCovered(gb, as, version))
}

// ---------------------------------------------------------------------------------------------
// Concrete requests built to fit a rule, answered by the real evaluator.

const FRESH = { user: 'kubetrail-lint-user', namespace: 'kubetrail-lint-ns', name: 'kubetrail-lint-name' }

interface Sample {
  resource: string
  subresource?: string
  apiGroup: string
  clusterScoped?: boolean
  verbs: readonly string[]
}

const NAMELESS_VERBS = new Set(['create', 'list', 'watch', 'deletecollection'])
const firstFew = (l: readonly string[] | undefined, fallback: readonly string[]) => (nonEmpty(l) ? l.slice(0, 3) : fallback)

/**
 * Requests for `s` with `verb` that this rule could match: its own users, groups, namespaces and
 * names, and fresh values no rule mentions where the rule has no condition (so that an earlier
 * rule about one particular user or namespace does not hide what this rule decides for the rest).
 */
function samplesFor(rule: PolicyRule, s: Sample, verb: string): RequestAttributes[] {
  // a create on a subresource (pods/NAME/exec, serviceaccounts/NAME/token) names its parent
  const names = NAMELESS_VERBS.has(verb) && !s.subresource ? [''] : [...(rule.resources ?? []).flatMap((g) => g.resourceNames ?? []).slice(0, 2), FRESH.name]
  const namespaces = s.clusterScoped ? [''] : firstFew(rule.namespaces, [FRESH.namespace, 'default'])
  const groups = nonEmpty(rule.userGroups) ? rule.userGroups.slice(0, 3).map((g) => [g, 'system:authenticated']) : [['system:authenticated']]
  const out: RequestAttributes[] = []
  for (const user of firstFew(rule.users, [FRESH.user]))
    for (const g of groups)
      for (const namespace of namespaces)
        for (const name of names)
          out.push({
            user,
            groups: g,
            verb,
            apiGroup: s.apiGroup,
            resource: s.resource,
            subresource: s.subresource ?? '',
            namespace,
            name,
            path: `/apis/${s.apiGroup}/v1/${s.resource}`,
            isResourceRequest: true,
          })
  return out
}

/** Verbs of `s` for which this rule is the first match, at level >= min, for some fitting request. */
function verbsDecidedBy(evaluator: PolicyEvaluator, i: number, rule: PolicyRule, s: Sample, min: Level): string[] {
  return s.verbs.filter((v) =>
    samplesFor(rule, s, v).some((req) => {
      const d = evaluator.evaluate(req)
      return d.ruleIndex === i && levelAtLeast(d.level, min)
    }),
  )
}

const WRITES = ['create', 'update', 'patch']
// Response bodies: watch streams and exec/proxy have no responseObject, and deleting a Secret or
// ConfigMap answers with a Status, not the object (pkg/audit/request.go, generic registry Store).
const SENSITIVE: Array<{ sample: Sample; what: string; request: readonly string[]; response: readonly string[] }> = [
  { sample: { resource: 'secrets', apiGroup: '', verbs: [] }, what: 'Secret data (base64, not encrypted)', request: WRITES, response: ['get', 'list', ...WRITES] },
  { sample: { resource: 'configmaps', apiGroup: '', verbs: [] }, what: 'ConfigMap data (often credentials in practice)', request: WRITES, response: ['get', 'list', ...WRITES] },
  { sample: { resource: 'serviceaccounts', subresource: 'token', apiGroup: '', verbs: [] }, what: 'issued service-account tokens (TokenRequest status.token)', request: [], response: ['create'] },
  { sample: { resource: 'tokenreviews', apiGroup: 'authentication.k8s.io', clusterScoped: true, verbs: [] }, what: 'bearer tokens under review (TokenReview spec.token)', request: ['create'], response: ['create'] },
]

/** Read constantly by kubelets and controllers; `watch` is left out (a watch has no responseObject). */
const HIGH_VOLUME: Sample[] = [
  { resource: 'pods', apiGroup: '', verbs: ['get', 'list'] },
  { resource: 'nodes', apiGroup: '', clusterScoped: true, verbs: ['get', 'list'] },
  { resource: 'endpoints', apiGroup: '', verbs: ['get', 'list'] },
  { resource: 'events', apiGroup: '', verbs: ['get', 'list'] },
  { resource: 'configmaps', apiGroup: '', verbs: ['get', 'list'] },
  { resource: 'leases', apiGroup: 'coordination.k8s.io', verbs: ['get', 'list'] },
  { resource: 'endpointslices', apiGroup: 'discovery.k8s.io', verbs: ['get', 'list'] },
]

const INTERACTIVE = ['exec', 'attach', 'portforward']

/** A failed login: no user and no groups (WithFailedAuthenticationAudit); any path. */
function failedLogin(verb: string, path: string, resource?: { apiGroup: string; resource: string; subresource?: string; namespace: string }): RequestAttributes {
  return {
    user: null,
    groups: [],
    verb,
    apiGroup: resource?.apiGroup ?? '',
    resource: resource?.resource ?? '',
    subresource: resource?.subresource ?? '',
    namespace: resource?.namespace ?? '',
    name: '',
    path,
    isResourceRequest: resource !== undefined,
  }
}

const FAILED_LOGINS: RequestAttributes[] = [
  failedLogin('list', '/api/v1/namespaces/default/pods', { apiGroup: '', resource: 'pods', namespace: 'default' }),
  failedLogin('get', '/api'),
  failedLogin('get', '/version'),
  failedLogin('create', '/apis/apps/v1/namespaces/default/deployments', { apiGroup: 'apps', resource: 'deployments', namespace: 'default' }),
]

const authenticated = (verb: string, rest: Partial<RequestAttributes>): RequestAttributes => ({
  user: FRESH.user,
  groups: ['system:authenticated'],
  verb,
  apiGroup: '',
  resource: '',
  subresource: '',
  namespace: '',
  name: '',
  path: '/',
  isResourceRequest: true,
  ...rest,
})

/** Kinds of requests every cluster sees, for `no-catch-all`. */
const EVERYDAY_REQUESTS: Array<{ label: string; attrs: RequestAttributes }> = [
  { label: 'deleting a ConfigMap', attrs: authenticated('delete', { resource: 'configmaps', namespace: FRESH.namespace, name: FRESH.name }) },
  { label: 'creating a Deployment', attrs: authenticated('create', { apiGroup: 'apps', resource: 'deployments', namespace: FRESH.namespace }) },
  { label: 'writing a custom resource', attrs: authenticated('update', { apiGroup: 'example.com', resource: 'widgets', namespace: FRESH.namespace, name: FRESH.name }) },
  { label: 'reading Secrets', attrs: authenticated('get', { resource: 'secrets', namespace: FRESH.namespace, name: FRESH.name }) },
  { label: 'changing a ClusterRoleBinding', attrs: authenticated('patch', { apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', name: FRESH.name }) },
  { label: 'non-resource requests such as GET /version', attrs: authenticated('get', { path: '/version', isResourceRequest: false }) },
  { label: 'anonymous requests', attrs: authenticated('get', { user: 'system:anonymous', groups: ['system:unauthenticated'], path: '/api', isResourceRequest: false }) },
  { label: 'failed logins (401)', attrs: FAILED_LOGINS[0]! },
]

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

function describeDecision(ctx: Context, d: Decision): string {
  return d.ruleIndex === null ? 'no rule (not audited at all)' : `${ruleRef(ctx, d.ruleIndex)} at level ${d.level}`
}

/** Line of a top-level key of the policy (for policy-wide findings), else 1. */
function topLevelKeyLine(text: string, key: string): number {
  const idx = text.split('\n').findIndex((l) => l.startsWith(`${key}:`))
  return idx < 0 ? 1 : idx + 1
}

function checkShadowing(ctx: Context): void {
  const rules = ctx.loaded.rules
  for (let j = 1; j < rules.length; j++) {
    const i = rules.slice(0, j).findIndex((a) => ruleCovers(a, rules[j]!, ctx.version))
    if (i < 0) continue
    const a = rules[i]!
    const catchAll = !nonEmpty(a.users) && !nonEmpty(a.userGroups) && !nonEmpty(a.verbs) && targetOf(a) === 'any'
    const why = catchAll ? `${ruleRef(ctx, i)} matches every request` : `${ruleRef(ctx, i)} matches every request this rule could match`
    add(ctx, 'shadowed-rule', ctx.loaded.ruleLines[j]!, `${ruleRef(ctx, j)} never applies: ${why}, and the first matching rule wins. Move it above ${ruleRef(ctx, i)} or remove it.`, j)
  }
}

/** Groups whose resources kubetrail knows completely; CRD and aggregated groups are not judged. */
const BUILTIN_GROUPS = new Set([
  '', 'apps', 'batch', 'policy', 'autoscaling', 'events.k8s.io', 'rbac.authorization.k8s.io', 'networking.k8s.io', 'authentication.k8s.io',
  'authorization.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'apiextensions.k8s.io', 'storage.k8s.io', 'certificates.k8s.io',
  'admissionregistration.k8s.io', 'scheduling.k8s.io', 'apiregistration.k8s.io', 'node.k8s.io', 'flowcontrol.apiserver.k8s.io',
])

/** Go's TrimLeft/TrimRight with a cutset, as checker.go uses them on "*\/sub" and "res/*". */
const trimLeftCutset = (s: string, cut: string) => s.replace(new RegExp(`^[${cut}]+`), '')
const trimRightCutset = (s: string, cut: string) => s.replace(new RegExp(`[${cut}]+$`), '')
const isRealSegment = (s: string) => s !== '' && !s.includes('/') && !s.includes('*')

/**
 * Whether `res` can match a real request under checker.go: `res == "*"`, `res == resource` or
 * `resource/subresource` (single, non-empty segments: "pods/" is not "pods"), "*\/sub", "res/*".
 */
function resourcePatternCanMatch(res: string): boolean {
  if (res === '*') return true
  const parts = res.split('/')
  if (parts.length <= 2 && parts.every(isRealSegment)) return true
  if (res.startsWith('*/') && isRealSegment(trimLeftCutset(res, '*/'))) return true
  return res.endsWith('/*') && isRealSegment(trimRightCutset(res, '/*'))
}

function checkResources(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    const line = ctx.loaded.ruleLines[i]!
    for (const gr of rule.resources ?? []) {
      const group = gr.group ?? ''
      if (/^v\d+((alpha|beta)\d+)?$/.test(group) || group === 'core')
        add(ctx, 'group-not-a-group', line, `${ruleRef(ctx, i)}: group "${group}" is not an API group${group === 'core' ? '' : ' but a version'}, so this entry never matches. The core group (pods, secrets, …) is written group: "" (or left out); other groups without their version, e.g. "apps".`, i)
      for (const res of gr.resources ?? []) {
        const homes = builtinGroupsOf(res.split('/')[0]!)
        if (homes !== undefined && BUILTIN_GROUPS.has(group) && !homes.includes(group))
          add(ctx, 'wrong-api-group', line, `${ruleRef(ctx, i)}: "${res}" is served by API group ${homes.map(groupLabel).join(' or ')}, not ${groupLabel(group)}${gr.group === undefined ? ' (group left out means the core group)' : ''}, so this entry never matches it. Use group: "${homes[0]}".`, i)
        if (!resourcePatternCanMatch(res))
          add(ctx, 'impossible-resource', line, `${ruleRef(ctx, i)}: resource pattern "${res}" matches no request: the apiserver compares it with "resource" or "resource/subresource" exactly, or as "*", "*/<subresource>" or "<resource>/*". Use "*" for every resource and subresource, "pods/*" for pods and its subresources, "*/status" for one subresource of every resource.`, i)
      }
      // Subresource creates (pods/exec, serviceaccounts/token, pods/eviction) do carry the parent's name.
      const wholeResourcesOnly = nonEmpty(gr.resources) && gr.resources.every((r) => !r.includes('/') && r !== '*')
      if (nonEmpty(gr.resourceNames) && wholeResourcesOnly && nonEmpty(rule.verbs) && rule.verbs.every((v) => v === 'create'))
        add(ctx, 'resource-names-on-create', line, `${ruleRef(ctx, i)}: resourceNames never match a create of ${gr.resources!.join(', ')}: the new object's name is in the request body, but the policy sees only the URL, which has none (the event's objectRef.name is filled in later).`, i)
    }
  })
}

function verbProblem(verb: string, target: Target): string | undefined {
  if (verb === '*') return `"*" is not a wildcard in an audit policy (unlike RBAC), it matches only a verb spelled "*"; leave verbs out to match every verb`
  const authzOnly = AUTHORIZATION_ONLY_VERBS.has(verb) ? `"${verb}" is an RBAC permission verb, checked separately, never the verb of a request` : undefined
  if (target === 'nonResource' && !HTTP_METHODS.has(verb))
    return authzOnly ?? (RESOURCE_VERBS.has(verb) ? `"${verb}" is a Kubernetes verb; non-resource URLs get the lower-case HTTP method (get, post, put, patch, delete, head, options)` : `"${verb}" is not a lower-case HTTP method`)
  if (target === 'resource' && !RESOURCE_VERBS.has(verb))
    return authzOnly ?? (HTTP_METHODS.has(verb) ? `resource requests use Kubernetes verbs (POST is "create", PUT is "update", HEAD is "get")` : `verbs are exact and case-sensitive (${[...RESOURCE_VERBS].join(', ')})`)
  if (target === 'any' && !RESOURCE_VERBS.has(verb) && !HTTP_METHODS.has(verb))
    return authzOnly ?? `"${verb}" is neither a Kubernetes verb nor a lower-case HTTP method (verbs are case-sensitive; "*" is not a wildcard)`
  return undefined
}

function checkVerbs(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    const target = targetOf(rule)
    const kind = target === 'nonResource' ? 'a non-resource URL' : target === 'resource' ? 'a resource request' : 'any request'
    for (const verb of rule.verbs ?? []) {
      const why = verbProblem(verb, target)
      if (why) add(ctx, 'verb-never-matches', ctx.loaded.ruleLines[i]!, `${ruleRef(ctx, i)}: verb "${verb}" never matches ${kind}: ${why}.`, i)
    }
  })
}

function checkSensitive(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    for (const s of SENSITIVE) {
      const viaRequest = verbsDecidedBy(ctx.evaluator, i, rule, { ...s.sample, verbs: s.request }, 'Request')
      const viaResponse = verbsDecidedBy(ctx.evaluator, i, rule, { ...s.sample, verbs: s.response }, 'RequestResponse')
      if (viaRequest.length === 0 && viaResponse.length === 0) continue
      const name = s.sample.subresource ? `${s.sample.resource}/${s.sample.subresource}` : s.sample.resource
      const parts = []
      if (viaRequest.length > 0) parts.push(`request bodies of ${viaRequest.join('/')}`)
      if (viaResponse.length > 0) parts.push(`response bodies of ${viaResponse.join('/')}`)
      add(
        ctx,
        'sensitive-data-logged',
        ctx.loaded.ruleLines[i]!,
        `${ruleRef(ctx, i)} logs ${rule.level} for ${name}: ${parts.join(' and ')} put ${s.what} in the audit log, readable by anyone who can read the log. Log ${name} at Metadata in an earlier rule.`,
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
    const missed: Array<{ sub: string; d: Decision }> = []
    for (const sub of INTERACTIVE) {
      if (!named.includes(`pods/${sub}`) && !named.includes(`*/${sub}`)) continue
      const sample: Sample = { resource: 'pods', subresource: sub, apiGroup: '', verbs: [] }
      const viaGet = samplesFor(rule, sample, 'get')
      // the same request as a SPDY (create) session this rule decides, over WebSocket (get)
      const k = samplesFor(rule, sample, 'create').findIndex((req) => ctx.evaluator.evaluate(req).ruleIndex === i)
      if (k < 0) continue
      const d = ctx.evaluator.evaluate(viaGet[k]!)
      if (d.level !== rule.level) missed.push({ sub, d })
    }
    if (missed.length === 0) return
    const subs = missed.map((m) => `pods/${m.sub}`).join(', ')
    const goes = [...new Set(missed.map((m) => describeDecision(ctx, m.d)))].join(' / ')
    add(
      ctx,
      'exec-create-only',
      ctx.loaded.ruleLines[i]!,
      `${ruleRef(ctx, i)} matches ${subs} only with verb create (SPDY, an HTTP POST). kubectl >= 1.30 uses WebSockets, an HTTP GET, so those sessions are verb "get" and go to ${goes} instead of ${rule.level}. Add "get" to verbs.`,
      i,
    )
  })
}

function checkFailedLogins(ctx: Context): void {
  for (const req of FAILED_LOGINS) {
    const d = ctx.evaluator.evaluate(req)
    if (d.level === 'None' || !d.omitStages.includes('ResponseStarted')) continue
    const policyWide = ctx.loaded.policy.omitStages?.includes('ResponseStarted') === true
    const where = policyWide ? 'the policy-level omitStages' : `${ruleRef(ctx, d.ruleIndex!)}'s omitStages`
    const line = policyWide ? topLevelKeyLine(ctx.loaded.text, 'omitStages') : ctx.loaded.ruleLines[d.ruleIndex!]!
    add(
      ctx,
      'failed-logins-not-audited',
      line,
      `${where} omits ResponseStarted, and a failed login (401, no user, e.g. ${req.verb} ${req.path}) decided by ${ruleRef(ctx, d.ruleIndex!)} at ${d.level} is emitted at ResponseStarted only (WithFailedAuthenticationAudit): failed logins are silently not audited. Keep ResponseStarted (it also marks the start of watches and exec sessions), or omit it only on rules with users/userGroups, which failed logins never match.`,
      policyWide ? undefined : d.ruleIndex!,
    )
    return
  }
}

/** A concrete request this rule matches when its users/userGroups are ignored, if one is easy to name. */
function exampleRequestFor(rule: PolicyRule, version: KubeVersion): RequestAttributes | undefined {
  const verb = rule.verbs?.[0] ?? 'get'
  const target = targetOf(rule)
  let req: RequestAttributes
  if (target === 'nonResource') {
    const url = rule.nonResourceURLs![0]!
    req = failedLogin(verb, url === '*' ? '/api' : trimRightCutset(url, '*'))
  } else if (target === 'any' && HTTP_METHODS.has(verb) && !RESOURCE_VERBS.has(verb)) {
    req = failedLogin(verb, '/api')
  } else {
    const gr = rule.resources?.[0]
    const res = gr?.resources?.[0] ?? 'pods'
    const [resource, subresource] = res === '*' || res.startsWith('*/') ? ['pods', trimLeftCutset(res, '*/')] : [trimRightCutset(res, '/*').split('/')[0]!, res.endsWith('/*') ? '' : (res.split('/')[1] ?? '')]
    req = {
      ...failedLogin(verb, '/apis', { apiGroup: gr?.group === '*' ? 'example.com' : (gr?.group ?? ''), resource, subresource, namespace: rule.namespaces?.[0] ?? FRESH.namespace }),
      name: NAMELESS_VERBS.has(verb) && !subresource ? '' : (gr?.resourceNames?.[0] ?? FRESH.name),
    }
  }
  return compileRuleMatcher({ ...rule, users: [], userGroups: [] }, version)(req) ? req : undefined
}

function checkAnonymousIdentity(ctx: Context): void {
  ctx.loaded.rules.forEach((rule, i) => {
    const anonymous = rule.users?.includes('system:anonymous') || rule.userGroups?.includes('system:unauthenticated')
    if (!anonymous || rule.level === 'None') return
    const req = exampleRequestFor(rule, ctx.version) // already without user and groups: a failed login
    if (req === undefined) return
    const d = ctx.evaluator.evaluate(req)
    if (d.level === rule.level) return
    add(
      ctx,
      'identity-misses-failed-logins',
      ctx.loaded.ruleLines[i]!,
      `${ruleRef(ctx, i)} matches anonymous requests (user system:anonymous, group system:unauthenticated), but not failed logins: a request with bad credentials has no user and no groups at all, so e.g. ${req.verb} ${req.isResourceRequest ? req.resource : req.path} with a bad token goes to ${describeDecision(ctx, d)}. Add a rule without users/userGroups if failed logins should be recorded.`,
      i,
    )
  })
}

function checkCatchAll(ctx: Context): void {
  const unlogged = EVERYDAY_REQUESTS.filter((s) => ctx.evaluator.evaluate(s.attrs).ruleIndex === null)
  if (unlogged.length === 0) return
  add(
    ctx,
    'no-catch-all',
    ctx.loaded.ruleLines[ctx.loaded.rules.length - 1] ?? 1,
    `No rule matches every request, and requests that match no rule get level None: they are not audited at all. Not recorded, for example: ${unlogged.map((u) => u.label).join(', ')}. End with "- level: Metadata" (or an explicit "- level: None" if that is intended).`,
  )
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
    const byVerbs = new Map<string, string[]>()
    for (const h of hits) byVerbs.set(h.verbs.join('/'), [...(byVerbs.get(h.verbs.join('/')) ?? []), h.s.resource])
    const what = [...byVerbs].map(([verbs, resources]) => `${verbs} of ${resources.join(', ')}`).join('; ')
    add(ctx, 'bodies-for-high-volume-reads', ctx.loaded.ruleLines[i]!, `${ruleRef(ctx, i)} logs RequestResponse for ${what}: kubelets and controllers read these constantly and every response is written whole (a list is often hundreds of KB). Log reads of these resources at Metadata (or None) in an earlier rule.`, i)
  })
}

function checkLoaderWarnings(ctx: Context): void {
  for (const w of ctx.loaded.warnings) add(ctx, 'loader-warning', w.line ?? 1, w.field ? `${w.field}: ${w.message}` : w.message)
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
  checkLoaderWarnings(ctx)
  checkShadowing(ctx)
  checkResources(ctx)
  checkVerbs(ctx)
  checkSensitive(ctx)
  checkInteractive(ctx)
  checkFailedLogins(ctx)
  checkAnonymousIdentity(ctx)
  checkCatchAll(ctx)
  checkRequestReceived(ctx)
  checkHighVolumeReads(ctx)
  const ignores = suppressions(loaded.text)
  const textLines = loaded.text.split('\n')
  return ctx.findings.filter((f) => !isSuppressed(f, loaded, ignores, textLines)).sort((a, b) => a.line - b.line || a.id.localeCompare(b.id))
}
