/**
 * @module `kubetrail policy explain POLICY ...`: which rule a request hits, at which level, and
 * which of its stages are written. One request from flags, or many from an NDJSON file.
 */
import { createInterface } from 'node:readline'
import { open } from 'node:fs/promises'
import { Type } from '@sinclair/typebox'
import { defineCommand, KUBERNETES_VERSION_OPTION, type CommandContext } from '../command.js'
import { renderRecords, type OutputFormat } from '../output.js'
import { DECISION_SCHEMA } from '../schemas.js'
import { FileNotFoundError, FileReadError, UsageError, errorMessage } from '../../core/errors.js'
import { STAGES, type Stage } from '../../model/index.js'
import {
  attributesFromRequest,
  compilePolicy,
  describeRule,
  loadPolicyFile,
  parseKubernetesVersion,
  type Decision,
  type LoadedPolicy,
  type PolicyEvaluator,
  type RequestAttributes,
} from '../../policy/index.js'

interface ExplainOptions {
  verb?: string
  user?: string
  group?: string[]
  resource?: string
  subresource?: string
  apiGroup?: string
  namespace?: string
  name?: string
  path?: string
  requests?: string
  output: OutputFormat
  kubernetesVersion?: string
}

/** The -o json / --requests result shape (a contract: scripts parse it). */
function decisionData(d: Decision) {
  return { rule: d.ruleIndex, level: d.level, omitStages: d.omitStages, omitManagedFields: d.omitManagedFields }
}

/** A --requests line that could not be evaluated. */
const REQUEST_ERROR_SCHEMA = Type.Object({ line: Type.Integer({ minimum: 1 }), error: Type.String() }, { additionalProperties: false })
/** -o json: the decision; with --requests, one element per non-blank input line (ndjson: one line per input line). */
const EXPLAIN_SCHEMA = Type.Union([DECISION_SCHEMA, Type.Array(Type.Union([DECISION_SCHEMA, REQUEST_ERROR_SCHEMA]))])

interface ExplainedLine {
  line: number
  result?: ReturnType<typeof decisionData> | { line: number; error: string }
}

const STAGE_NOTES: Record<Stage, string> = {
  RequestReceived: 'as soon as the request is received',
  ResponseStarted: 'only for long-running requests (watch, exec, attach, port-forward, proxy, logs) and failed logins (401)',
  ResponseComplete: 'when the response is complete',
  Panic: 'only if the apiserver panics',
}

function requestFromFlags(o: ExplainOptions): RequestAttributes {
  if (!o.verb) throw new UsageError('--verb is required (or use --requests FILE)')
  if (o.path && o.resource) throw new UsageError('give either --resource (a resource request) or --path (a non-resource URL), not both')
  if (!o.path && !o.resource) throw new UsageError('give --resource R (e.g. pods, deployments, pods/exec) or --path /url')
  return attributesFromRequest({
    user: o.user ?? null,
    groups: o.group ?? [],
    verb: o.verb,
    ...(o.resource ? { resource: o.resource, subresource: o.subresource, apiGroup: o.apiGroup, namespace: o.namespace, name: o.name, resourceRequest: true } : { path: o.path, resourceRequest: false }),
  })
}

export function renderDecision(loaded: LoadedPolicy, attrs: RequestAttributes, d: Decision): string {
  const out: string[] = []
  const who = attrs.user === null ? 'nobody (failed authentication: no user)' : `user ${attrs.user}${attrs.groups.length ? ` (groups ${attrs.groups.join(', ')})` : ''}`
  const what = attrs.isResourceRequest
    ? `${attrs.verb} ${attrs.apiGroup ? `${attrs.apiGroup}/` : ''}${attrs.resource}${attrs.subresource ? `/${attrs.subresource}` : ''}${attrs.name ? ` ${attrs.name}` : ''}${attrs.namespace ? ` in namespace ${attrs.namespace}` : ''}`
    : `${attrs.verb} ${attrs.path} (non-resource URL)`
  out.push(`Request: ${what}, by ${who}`)
  if (d.ruleIndex === null) {
    out.push('Rule:    none matched: the request is not audited (level None)')
  } else {
    out.push(`Rule:    #${d.ruleIndex} (line ${loaded.ruleLines[d.ruleIndex]}): ${describeRule(loaded.rules[d.ruleIndex]!)}`)
  }
  out.push(`Level:   ${d.level}${d.level === 'None' ? ' (nothing is logged)' : d.level === 'Metadata' ? ' (who/what/when; no bodies)' : d.level === 'Request' ? ' (metadata + request body)' : ' (metadata + request and response bodies)'}`)
  if (d.level !== 'None') {
    const logged = STAGES.filter((s) => !d.omitStages.includes(s))
    out.push(logged.length === 0 ? 'Stages:  none: every stage is omitted, so nothing is written' : 'Stages logged:')
    for (const s of logged) out.push(`  - ${s}: ${STAGE_NOTES[s]}`)
    if (d.omitStages.length > 0) out.push(`  omitted: ${d.omitStages.join(', ')}`)
  }
  out.push(`omitManagedFields: ${d.omitManagedFields}`)
  return out.join('\n') + '\n'
}

/** Opens the --requests file before any output, so a missing file is a clear error (not a stream failure). */
async function openRequests(file: string, ctx: CommandContext): Promise<NodeJS.ReadableStream> {
  if (file === '-') return ctx.stdin
  try {
    const handle = await open(file, 'r')
    if ((await handle.stat()).isDirectory()) {
      await handle.close()
      throw new FileReadError(file, new Error('is a directory'))
    }
    // the handle's own stream: one given the raw fd closes it behind the FileHandle, whose
    // close on garbage collection then fails (EBADF) or closes a descriptor reused since
    return handle.createReadStream({ autoClose: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileNotFoundError(file, 'requests file')
    if (error instanceof FileReadError) throw error
    throw new FileReadError(file, error)
  }
}

async function* explainMany(input: NodeJS.ReadableStream, file: string, evaluator: PolicyEvaluator, problems: string[], keepBlank: boolean): AsyncGenerator<ExplainedLine> {
  const lines = createInterface({ input, crlfDelay: Infinity })
  let n = 0
  for await (const line of lines) {
    n++
    if (line.trim() === '') {
      // ndjson keeps the output's lines in step with the input's
      if (keepBlank) yield { line: n }
      continue
    }
    try {
      yield { line: n, result: decisionData(evaluator.evaluate(attributesFromRequest(JSON.parse(line)))) }
    } catch (error) {
      const reason = error instanceof SyntaxError ? `invalid JSON: ${error.message}` : errorMessage(error)
      problems.push(`${file === '-' ? '<stdin>' : file}:${n}: ${reason}`)
      yield { line: n, result: { line: n, error: reason } }
    }
  }
}

export default defineCommand<ExplainOptions>({
  path: ['policy', 'explain'],
  summary: 'show which rule a request matches, at which level, and which stages are logged',
  description:
    'Describe the request as the apiserver sees it: the authenticated user (not an impersonated one),\n' +
    'the Kubernetes verb (get/list/watch/create/update/patch/delete/deletecollection; for non-resource\n' +
    'URLs the lower-case HTTP method), and the resource (kubectl exec >= 1.30 is "get pods/exec").\n' +
    'Omit --user for a request that failed authentication. --requests takes NDJSON objects with keys\n' +
    'user, groups, verb, apiGroup, resource, subresource, namespace, name, path, resourceRequest.',
  args: [{ name: '<policy>', description: 'audit policy file' }],
  options: [
    { flags: '--verb <verb>', description: 'Kubernetes verb, or HTTP method for --path' },
    { flags: '--user <name>', description: 'authenticated user name (omit: unauthenticated)' },
    { flags: '--group <group>', description: "one of the user's groups (repeatable)", repeatable: true },
    { flags: '--resource <resource>', description: 'resource, or resource/subresource (pods, pods/exec)' },
    { flags: '--subresource <sub>', description: 'subresource (status, exec, log, ...)' },
    { flags: '--api-group <group>', description: 'API group ("" = core; apps, rbac.authorization.k8s.io, ...)' },
    { flags: '-n, --namespace <ns>', description: 'namespace ("" or omitted = cluster-scoped)' },
    { flags: '--name <name>', description: 'object name (creates have none at evaluation time)' },
    { flags: '--path <url>', description: 'non-resource URL path, e.g. /healthz' },
    { flags: '--requests <file>', description: 'evaluate every request in an NDJSON file ("-" = stdin), one JSON result per line' },
    KUBERNETES_VERSION_OPTION,
  ],
  // NDJSON in, NDJSON out unless -o says otherwise
  output: { schema: EXPLAIN_SCHEMA, defaultFormat: (o) => (o['requests'] ? 'ndjson' : 'table') },
  examples: [
    'kubetrail policy explain audit-policy.yaml --user alice@example.com --verb get --resource pods/exec -n production --name web-1',
    'kubetrail policy explain audit-policy.yaml --verb delete --resource deployments --api-group apps -n prod --name api -o json',
    'kubetrail policy explain audit-policy.yaml --verb get --path /healthz',
    'kubetrail policy explain audit-policy.yaml --requests requests.ndjson',
  ],
  async handler([file], opts, ctx) {
    const loaded = await loadPolicyFile(file!, { kubernetesVersion: parseKubernetesVersion(opts.kubernetesVersion) })
    const evaluator = compilePolicy(loaded.policy, { kubernetesVersion: loaded.kubernetesVersion })
    if (opts.requests) {
      const problems: string[] = []
      const explained = explainMany(await openRequests(opts.requests, ctx), opts.requests, evaluator, problems, opts.output === 'ndjson')
      const output = renderRecords(opts.output, explained, {
        columns: ['LINE', 'RULE', 'LEVEL', 'OMITTED-STAGES'],
        row: (r) => (r.result && 'error' in r.result ? [String(r.line), '-', 'error', r.result.error] : [String(r.line), String(r.result?.rule ?? 'none'), r.result?.level ?? '', r.result?.omitStages.join(',') ?? '']),
        json: (r) => (r.result ? JSON.stringify(r.result) : ''),
        value: (r) => r.result,
        empty: 'no requests',
      })
      // the exit code is only known once the stream is consumed
      const result = { output, warnings: problems, exitCode: 0 }
      return Object.defineProperty(result, 'exitCode', { get: () => (problems.length > 0 ? 1 : 0), enumerable: true })
    }
    const attrs = requestFromFlags(opts)
    const decision = evaluator.evaluate(attrs)
    return { report: { data: decisionData(decision), text: () => renderDecision(loaded, attrs, decision) } }
  },
})
