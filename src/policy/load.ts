/**
 * @module Reading an audit policy file the way kube-apiserver does (`pkg/audit/policy/reader.go`
 * `LoadPolicyFromBytes`), but with every problem reported at its line and column.
 *
 * Two kinds of problems:
 * - *fatal*: the apiserver refuses the policy and does not start (bad YAML, wrong apiVersion or
 *   kind, zero rules, a wrong type, anything `ValidatePolicy` rejects);
 * - *silent*: the apiserver loads the policy but quietly changes its meaning — an unknown or
 *   mis-indented key is dropped (which widens the rule), a duplicated key keeps its last value.
 *   kubetrail treats these as errors by default (`strict`), since the policy does not say what
 *   its author meant; with `strict: false` they are warnings and loading goes on as the
 *   apiserver's lenient decoder would.
 */
import { readFile, stat } from 'node:fs/promises'
import { Document, LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type Pair } from 'yaml'
import { API_GROUP, API_VERSION, type GroupResources, type Policy, type PolicyRule } from '../model/index.js'
import { FileNotFoundError, FileReadError, InputInvalidError, type InputIssue } from '../core/errors.js'
import type { KubeVersion, LoadedPolicy } from './types.js'
import { formatValidationError, validatePolicy } from './validate.js'
import { NEWEST_KUBERNETES, formatKubernetesVersion, supports } from './version.js'

export class PolicyInvalidError extends InputInvalidError {
  constructor(file: string, issues: InputIssue[]) {
    super('KT_POLICY_INVALID', `${file}: the audit policy is not valid`, issues, 'Fix the errors above; `kubetrail policy check` lists them all.')
  }
}

export interface LoadOptions {
  kubernetesVersion?: KubeVersion
  /** Treat silently-dropped fields and duplicate keys as errors (default true). */
  strict?: boolean
}

type FieldKind = 'string' | 'strings' | 'bool' | 'rules' | 'groupResources' | 'any'

const POLICY_FIELDS: Record<string, FieldKind> = {
  apiVersion: 'string',
  kind: 'string',
  metadata: 'any',
  rules: 'rules',
  omitStages: 'strings',
  omitManagedFields: 'bool',
}
const RULE_FIELDS: Record<string, FieldKind> = {
  level: 'string',
  users: 'strings',
  userGroups: 'strings',
  verbs: 'strings',
  resources: 'groupResources',
  namespaces: 'strings',
  nonResourceURLs: 'strings',
  omitStages: 'strings',
  omitManagedFields: 'bool',
}
const GROUP_RESOURCE_FIELDS: Record<string, FieldKind> = { group: 'string', resources: 'strings', resourceNames: 'strings' }

const LEGACY_VERSIONS = new Set([`${API_GROUP}/v1beta1`, `${API_GROUP}/v1alpha1`])

interface Collector {
  fatal: InputIssue[]
  silent: InputIssue[]
  warnings: InputIssue[]
}

class PolicyDecoder {
  constructor(
    private readonly file: string,
    /** null for an already-decoded object: its issues have a field path but no position. */
    private readonly lines: LineCounter | null,
    private readonly out: Collector,
    private readonly version: KubeVersion,
  ) {}

  at(node: { range?: [number, number, number] | null } | null | undefined, field: string, message: string): InputIssue {
    if (this.lines === null) return { file: this.file, field, message }
    const offset = node?.range?.[0] ?? 0
    const pos = this.lines.linePos(offset)
    return { file: this.file, line: pos.line, column: pos.col, field, message }
  }

  lineOf(node: { range?: [number, number, number] | null } | null | undefined): number {
    return this.lines === null ? 0 : this.lines.linePos(node?.range?.[0] ?? 0).line
  }

  private typeName(node: unknown): string {
    if (isMap(node)) return 'a mapping'
    if (isSeq(node)) return 'a list'
    if (isScalar(node)) {
      const v = node.value
      return v === null ? 'null' : typeof v === 'string' ? `the string ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`
    }
    return 'something else'
  }

  private str(node: unknown, field: string): string | undefined {
    if (isScalar(node)) {
      if (node.value === null) return undefined
      if (typeof node.value === 'string') return node.value
    }
    this.out.fatal.push(this.at(node as YamlNode, field, `must be a string, not ${this.typeName(node)}`))
    return undefined
  }

  private strings(node: unknown, field: string): string[] | undefined {
    if (isScalar(node) && node.value === null) return undefined
    if (!isSeq(node)) {
      this.out.fatal.push(this.at(node as YamlNode, field, `must be a list of strings, not ${this.typeName(node)}`))
      return undefined
    }
    return node.items.map((item, i) => (isScalar(item) && item.value === null ? '' : (this.str(item, `${field}[${i}]`) ?? '')))
  }

  private bool(node: unknown, field: string): boolean | undefined {
    if (isScalar(node)) {
      if (node.value === null) return undefined
      if (typeof node.value === 'boolean') return node.value
    }
    this.out.fatal.push(this.at(node as YamlNode, field, `must be true or false, not ${this.typeName(node)}`))
    return undefined
  }

  /** Walks a mapping against its known fields; unknown and duplicated keys are "silent" issues. */
  private fields(node: unknown, field: string, known: Record<string, FieldKind>, onValue: (key: string, kind: FieldKind, value: unknown, path: string) => void, context: 'policy' | 'rule' | 'resources'): void {
    if (!isMap(node)) {
      this.out.fatal.push(this.at(node as YamlNode, field || '(root)', `must be a mapping, not ${this.typeName(node)}`))
      return
    }
    const seen = new Map<string, Pair>()
    for (const pair of node.items) {
      const keyNode = pair.key
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode)
      const path = field ? `${field}.${key}` : key
      const previous = seen.get(key)
      if (previous) {
        const prevLine = this.lineOf(previous.key as YamlNode)
        this.out.silent.push(
          this.at(keyNode as YamlNode, path, `duplicate key "${key}" (also on line ${prevLine}); kube-apiserver silently keeps only this last value`),
        )
      }
      seen.set(key, pair)
      const kind = known[key]
      if (!kind) {
        this.out.silent.push(this.at(keyNode as YamlNode, path, this.unknownFieldMessage(key, context)))
        continue
      }
      onValue(key, kind, pair.value, path)
    }
  }

  private unknownFieldMessage(key: string, context: 'policy' | 'rule' | 'resources'): string {
    // From 1.26 reader.go decodes strictly first and, on failure, logs one klog line and decodes leniently.
    const trace = supports(this.version, 'strictThenLenientDecoding') ? ' (its only trace: the log line "Audit policy contains errors, falling back to lenient decoding")' : ''
    return this.unknownFieldAdvice(key, context) + trace
  }

  private unknownFieldAdvice(key: string, context: 'policy' | 'rule' | 'resources'): string {
    const base = `unknown field "${key}": kube-apiserver silently ignores it`
    if (context === 'resources' && key in RULE_FIELDS)
      return `${base}, so the rule is broader than written (it applies to every ${key === 'verbs' ? 'verb' : `value of ${key}`}); "${key}" belongs to the rule: indent it at the level of "resources:", not inside a resources entry`
    if (context === 'policy' && key in RULE_FIELDS) return `${base}; "${key}" is a rule field: put it inside a rule under "rules:"`
    if (context === 'rule') return `${base}, so the rule matches more than written; known rule fields: ${Object.keys(RULE_FIELDS).join(', ')}`
    return `${base}; known fields here: ${Object.keys(context === 'policy' ? POLICY_FIELDS : GROUP_RESOURCE_FIELDS).join(', ')}`
  }

  private groupResources(node: unknown, field: string): GroupResources[] | undefined {
    if (isScalar(node) && node.value === null) return undefined
    if (!isSeq(node)) {
      this.out.fatal.push(this.at(node as YamlNode, field, `must be a list of {group, resources, resourceNames}, not ${this.typeName(node)}`))
      return undefined
    }
    return node.items.map((item, i) => {
      const gr: GroupResources = {}
      this.fields(item, `${field}[${i}]`, GROUP_RESOURCE_FIELDS, (key, kind, value, path) => {
        if (kind === 'string') {
          const s = this.str(value, path)
          if (s !== undefined) gr.group = s
        } else {
          const list = this.strings(value, path)
          if (list !== undefined) gr[key as 'resources' | 'resourceNames'] = list
        }
      }, 'resources')
      return gr
    })
  }

  private rule(node: unknown, field: string): PolicyRule {
    const rule: PolicyRule = {}
    this.fields(node, field, RULE_FIELDS, (key, kind, value, path) => this.assign(rule as Record<string, unknown>, key, kind, value, path), 'rule')
    return rule
  }

  private assign(target: Record<string, unknown>, key: string, kind: FieldKind, value: unknown, path: string): void {
    let v: unknown
    switch (kind) {
      case 'string':
        v = this.str(value, path)
        break
      case 'strings':
        v = this.strings(value, path)
        break
      case 'bool':
        v = this.bool(value, path)
        if (v !== undefined && key === 'omitManagedFields' && !supports(this.version, 'omitManagedFields')) {
          this.out.warnings.push(
            this.at(value as YamlNode, path, `omitManagedFields is ignored by Kubernetes ${formatKubernetesVersion(this.version)} (it exists from 1.23): managedFields stay in the events`),
          )
          return
        }
        break
      case 'groupResources':
        v = this.groupResources(value, path)
        break
      case 'rules':
        if (isScalar(value) && value.value === null) v = undefined
        else if (!isSeq(value)) this.out.fatal.push(this.at(value as YamlNode, path, `must be a list of rules, not ${this.typeName(value)}`))
        else v = value.items.map((item, i) => this.rule(item, `rules[${i}]`))
        break
      case 'any':
        v = (value as YamlNode | null)?.toJSON?.() ?? undefined
        break
    }
    if (v !== undefined) target[key] = v
  }

  policy(root: unknown): Policy {
    const policy: Policy = {}
    this.fields(root, '', POLICY_FIELDS, (key, kind, value, path) => this.assign(policy as Record<string, unknown>, key, kind, value, path), 'policy')
    return policy
  }
}

function decodeText(bytes: Uint8Array, file: string): string {
  const nul = bytes.indexOf(0)
  if (nul >= 0) throw new PolicyInvalidError(file, [{ file, message: `not a text file (NUL byte at offset ${nul}); an audit policy is a YAML file` }])
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    throw new PolicyInvalidError(file, [{ file, message: 'not a UTF-8 text file; an audit policy is a YAML file' }])
  }
}

function nodeAt(root: unknown, path: readonly (string | number)[]): { node: unknown; exact: boolean } {
  let node = root
  for (const step of path) {
    let next: unknown
    if (typeof step === 'number' && isSeq(node)) next = node.items[step]
    else if (typeof step === 'string' && isMap(node)) next = node.items.findLast((p) => isScalar(p.key) && p.key.value === step)?.value
    if (next === undefined || next === null) return { node, exact: false }
    node = next
  }
  return { node, exact: true }
}

function checkVersionAndKind(policy: Policy, decoder: PolicyDecoder, root: unknown, version: KubeVersion, out: Collector, file: string): void {
  const gvk = `${policy.apiVersion ?? ''}, Kind=${policy.kind ?? ''}`
  const apiserverSays = `kube-apiserver: "unknown group version field ${gvk} in policy"`
  const legacy = policy.apiVersion !== undefined && LEGACY_VERSIONS.has(policy.apiVersion)
  if (policy.apiVersion === undefined || policy.kind === undefined) {
    out.fatal.push({ file, line: 1, column: 1, field: policy.apiVersion === undefined ? 'apiVersion' : 'kind', message: `missing; a policy starts with "apiVersion: ${API_VERSION}" and "kind: Policy" (${apiserverSays})` })
    return
  }
  if (policy.apiVersion !== API_VERSION && !(legacy && !supports(version, 'v1OnlyPolicy'))) {
    const why = legacy ? `${policy.apiVersion} was removed in Kubernetes 1.24` : `use ${API_VERSION}`
    out.fatal.push(decoder.at(nodeAt(root, ['apiVersion']).node as YamlNode, 'apiVersion', `"${policy.apiVersion}" is not an audit policy version: ${why} (${apiserverSays})`))
  } else if (legacy) {
    out.warnings.push(decoder.at(nodeAt(root, ['apiVersion']).node as YamlNode, 'apiVersion', `${policy.apiVersion} is deprecated (removed in 1.24): use ${API_VERSION}`))
  }
  if (policy.kind !== 'Policy') out.fatal.push(decoder.at(nodeAt(root, ['kind']).node as YamlNode, 'kind', `must be "Policy", not "${policy.kind}" (${apiserverSays})`))
}

/**
 * Decodes an already-parsed policy object (e.g. JSON) with the loader's type checks: wrong types
 * are errors; unknown fields are errors when `strict` (default), else dropped as the apiserver's
 * lenient decoder does. No apiVersion/kind, rule-count or `ValidatePolicy` checks: this is the
 * decoding step only (run `validatePolicy` on the result). Issues name fields, not positions.
 */
export function parsePolicyObject(value: unknown, options: LoadOptions & { file?: string } = {}): Policy {
  const file = options.file ?? '<object>'
  const out: Collector = { fatal: [], silent: [], warnings: [] }
  const policy = new PolicyDecoder(file, null, out, options.kubernetesVersion ?? NEWEST_KUBERNETES).policy(new Document(value).contents)
  const problems = [...out.fatal, ...((options.strict ?? true) ? out.silent : [])]
  if (problems.length > 0) throw new PolicyInvalidError(file, problems)
  return policy
}

/** Loads a policy from text. Throws `PolicyInvalidError` listing every problem. */
export function loadPolicyText(text: string, file: string, options: LoadOptions = {}): LoadedPolicy {
  const version = options.kubernetesVersion ?? NEWEST_KUBERNETES
  const strict = options.strict ?? true
  const lines = new LineCounter()
  // sigs.k8s.io/yaml (go-yaml v2) reads YAML 1.1; duplicate keys are checked by the decoder
  const doc = parseDocument(text.replace(/^\uFEFF/, ''), { lineCounter: lines, version: '1.1', uniqueKeys: false, prettyErrors: false })
  const out: Collector = { fatal: [], silent: [], warnings: [] }
  for (const err of doc.errors) {
    const pos = err.linePos?.[0] ?? lines.linePos(err.pos[0])
    out.fatal.push({ file, line: pos.line, column: pos.col, message: `YAML syntax error: ${err.message.split('\n')[0]}` })
  }
  if (out.fatal.length > 0) throw new PolicyInvalidError(file, out.fatal)
  const root = doc.contents
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) {
    throw new PolicyInvalidError(file, [{ file, line: 1, column: 1, message: `the file is empty; an audit policy needs "apiVersion: ${API_VERSION}", "kind: Policy" and at least one rule` }])
  }
  const decoder = new PolicyDecoder(file, lines, out, version)
  const policy = decoder.policy(root)
  if (isMap(root)) checkVersionAndKind(policy, decoder, root, version, out, file)
  if (out.fatal.length === 0 && isMap(root)) {
    for (const e of validatePolicy(policy, version)) {
      // the node the error is about, or the nearest one that exists (e.g. the rule lacking a level)
      const { node } = nodeAt(root, e.path)
      const issue = decoder.at(node as YamlNode, e.field, explainValidation(formatValidationError(e), e.body))
      out.fatal.push({ ...issue, field: undefined })
    }
    if ((policy.rules ?? []).length === 0)
      out.fatal.push({ file, line: 1, column: 1, field: 'rules', message: 'the policy has no rules (kube-apiserver: "loaded illegal policy with 0 rules" and does not start)' })
  }
  const silentAreErrors = strict ? out.silent : []
  if (out.fatal.length + silentAreErrors.length > 0) {
    throw new PolicyInvalidError(file, [...out.fatal, ...silentAreErrors].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)))
  }
  const rulesNode = nodeAt(root, ['rules']).node
  const ruleLines = (policy.rules ?? []).map((_, i) => decoder.lineOf(isSeq(rulesNode) ? (rulesNode.items[i] as YamlNode | undefined) : undefined))
  return { file, policy, rules: policy.rules ?? [], ruleLines, warnings: [...out.warnings, ...out.silent], kubernetesVersion: version, text }
}

/** The apiserver's words first (so they can be searched for), then what they mean. */
function explainValidation(apiserverText: string, body: string): string {
  if (body === 'Required value') return `${apiserverText} (every rule needs a level: None, Metadata, Request or RequestResponse)`
  if (body.includes('rules cannot apply to both')) return `${apiserverText} (a rule is either about resources/namespaces or about non-resource URLs such as /healthz; split it in two)`
  if (body.includes('RFC 1123 subdomain')) return `${apiserverText} (group is an API group name such as "apps" or "rbac.authorization.k8s.io", without a version)`
  return apiserverText
}

/** Reads and loads a policy file. */
export async function loadPolicyFile(path: string, options: LoadOptions = {}): Promise<LoadedPolicy> {
  let bytes: Buffer
  try {
    const st = await stat(path)
    if (st.isDirectory()) throw new PolicyInvalidError(path, [{ file: path, message: 'is a directory, not a policy file' }])
    bytes = await readFile(path)
  } catch (error) {
    if (error instanceof PolicyInvalidError) throw error
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileNotFoundError(path, 'policy file')
    throw new FileReadError(path, error)
  }
  return loadPolicyText(decodeText(bytes, path), path, options)
}
