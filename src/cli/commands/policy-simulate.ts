/**
 * @module `kubetrail policy simulate POLICY LOG...`: what the apiserver would have written under
 * POLICY for the traffic recorded in LOG (recorded with a catch-all RequestResponse rule and no
 * omitted stages), as a cost summary or as the events themselves.
 */
import { Type, type TSchema } from '@sinclair/typebox'
import { defineCommand, KUBERNETES_VERSION_OPTION, type CommandContext } from '../command.js'
import { formatBytes, formatCount, formatPercent } from '../format.js'
import { renderTable, type Column, type OutputFormat } from '../output.js'
import { LEVEL_SCHEMA, TALLY_SCHEMA } from '../schemas.js'
import { UsageError, errorMessage } from '../../core/errors.js'
import type { Level } from '../../model/index.js'
import {
  attributesFromEvent,
  compilePolicy,
  createSimulation,
  describeRule,
  goJson,
  canSimulateInParallel,
  loadPolicyFile,
  mergeSimulationStates,
  parseKubernetesVersion,
  simulateInParallel,
  replayEvent,
  replayVerdict,
  type LoadedPolicy,
  type SimulationSummary,
} from '../../policy/index.js'
import { logInput, type LogInput } from '../log-input.js'

interface SimulateOptions {
  output: OutputFormat
  top: string
  kubernetesVersion?: string
}

const perLevel = (v: TSchema) => Type.Object({ None: Type.Optional(v), Metadata: v, Request: v, RequestResponse: v })
const perStage = (v: TSchema) => Type.Object({ RequestReceived: v, ResponseStarted: v, ResponseComplete: v, Panic: v })
const KEYED_TALLY = Type.Object({ key: Type.String(), events: Type.Integer(), bytes: Type.Integer() }, { additionalProperties: false })

/** -o json: the SimulationSummary (-o ndjson prints the replayed events instead). */
const SIMULATE_SCHEMA = Type.Object(
  {
    input: Type.Object({
      events: Type.Integer(),
      bytes: Type.Integer(),
      byLevel: perLevel(Type.Integer()),
      byStage: perStage(Type.Integer()),
      firstTimestamp: Type.Optional(Type.String()),
      lastTimestamp: Type.Optional(Type.String()),
      spanSeconds: Type.Number(),
    }),
    kept: TALLY_SCHEMA,
    byRule: Type.Array(
      Type.Object(
        { rule: Type.Union([Type.Integer(), Type.Null()]), level: LEVEL_SCHEMA, events: Type.Integer(), bytes: Type.Integer(), omittedStageEvents: Type.Integer(), notLoggedEvents: Type.Integer() },
        { additionalProperties: false },
      ),
    ),
    byLevel: perLevel(TALLY_SCHEMA),
    byStage: perStage(TALLY_SCHEMA),
    byResource: Type.Array(KEYED_TALLY),
    byUser: Type.Array(KEYED_TALLY),
    dropped: Type.Object({ levelNone: TALLY_SCHEMA, stageOmitted: TALLY_SCHEMA }),
    projection: Type.Optional(Type.Object({ eventsPerSecond: Type.Number(), bytesPerDay: Type.Number() })),
    estimates: Type.Array(Type.String()),
  },
  { additionalProperties: false },
)

async function* ndjsonOutput(source: LogInput, loaded: LoadedPolicy) {
  const evaluator = compilePolicy(loaded.policy, { kubernetesVersion: loaded.kubernetesVersion })
  for await (const batch of source.batches('full')) {
    let chunk = ''
    for (const rec of batch) {
      const event = rec.fullEvent()
      const decision = evaluator.evaluate(attributesFromEvent(event))
      if (replayVerdict(event.stage, decision) !== 'kept') continue
      chunk += goJson(replayEvent(event, decision)) + '\n'
    }
    if (chunk) yield chunk
  }
}

const R = (header: string): Column => ({ header, align: 'right' })
const INDENT = { indent: '  ' }

export function renderSimulationSummary(policyFile: string, loaded: LoadedPolicy, s: SimulationSummary, files: readonly string[]): string {
  const out: string[] = []
  const span = s.input.firstTimestamp ? `${s.input.firstTimestamp} … ${s.input.lastTimestamp} (${s.input.spanSeconds.toFixed(1)} s)` : 'no events'
  out.push(`Policy ${policyFile} replayed over ${formatCount(s.input.events)} recorded events (${formatBytes(s.input.bytes)}) from ${files.length} file(s)`)
  out.push(`Time span: ${span}`)
  out.push('')
  out.push(
    `Would write: ${formatCount(s.kept.events)} events (${formatPercent(s.kept.events, s.input.events)} of the input), ${formatBytes(s.kept.bytes)} (${formatPercent(s.kept.bytes, s.input.bytes)})`,
  )
  if (s.projection)
    out.push(
      `Projected:   ${s.projection.eventsPerSecond.toFixed(1)} events/s, ${formatBytes(s.projection.bytesPerDay)}/day (${(s.projection.bytesPerDay / 1e9).toFixed(2)} GB/day)`,
    )
  out.push(
    `Not written: ${formatCount(s.dropped.levelNone.events)} events at level None, ${formatCount(s.dropped.stageOmitted.events)} in omitted stages`,
  )
  out.push('', 'By rule (first match wins):')
  out.push(
    renderTable(
      [R('rule'), R('line'), 'level', R('events'), R('bytes'), R('share'), R('omitted-stage'), 'rule summary'],
      s.byRule.map((r) => [
        r.rule === null ? '-' : String(r.rule),
        r.rule === null ? '-' : String(loaded.ruleLines[r.rule] ?? '-'),
        r.rule === null ? 'None' : r.level,
        formatCount(r.events + r.notLoggedEvents),
        formatBytes(r.bytes),
        formatPercent(r.bytes, s.kept.bytes),
        formatCount(r.omittedStageEvents),
        r.rule === null ? '(no rule matched: not logged)' : describeRule(loaded.rules[r.rule]!) + (r.level === 'None' ? ' (not logged)' : ''),
      ]),
      INDENT,
    ),
  )
  out.push('', 'By level:')
  out.push(
    renderTable(
      ['level', R('events'), R('bytes')],
      (['Metadata', 'Request', 'RequestResponse'] as const).map((l) => [l, formatCount(s.byLevel[l].events), formatBytes(s.byLevel[l].bytes)]),
      INDENT,
    ),
  )
  out.push('', 'By stage:')
  out.push(
    renderTable(
      ['stage', R('events'), R('bytes')],
      (['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const).map((st) => [st, formatCount(s.byStage[st].events), formatBytes(s.byStage[st].bytes)]),
      INDENT,
    ),
  )
  out.push('', `Top ${s.byResource.length} resources by bytes written:`)
  out.push(renderTable(['resource', R('events'), R('bytes')], s.byResource.map((r) => [r.key, formatCount(r.events), formatBytes(r.bytes)]), INDENT))
  out.push('', `Top ${s.byUser.length} users by bytes written:`)
  out.push(renderTable(['user', R('events'), R('bytes')], s.byUser.map((r) => [r.key, formatCount(r.events), formatBytes(r.bytes)]), INDENT))
  if (s.estimates.length > 0) {
    out.push('', 'Estimates:')
    for (const e of s.estimates) out.push(`  - ${e}`)
  }
  return out.join('\n') + '\n'
}

export default defineCommand<SimulateOptions>({
  path: ['policy', 'simulate'],
  summary: 'replay recorded audit events under a policy: what it would log and what that costs',
  description:
    'LOG must have been recorded with a catch-all RequestResponse rule and no omitted stages (or at least the\n' +
    'detail POLICY asks for); figures that depend on detail the input lacks are flagged as estimates.\n' +
    'LOG may be plain or gzip NDJSON, webhook EventList bodies, or the legacy format; "-" reads stdin.',
  args: [
    { name: '<policy>', description: 'audit policy file (audit.k8s.io/v1 Policy YAML)' },
    { name: '<log...>', description: 'recorded audit logs' },
  ],
  options: [
    { flags: '--top <n>', description: 'rows in the per-resource and per-user tables', default: '10' },
    KUBERNETES_VERSION_OPTION,
  ],
  // table: the summary (also `-o summary`); json/yaml: the summary; ndjson: the events the policy would write, byte for byte
  output: { schema: SIMULATE_SCHEMA, aliases: { summary: 'table' }, ndjson: 'the events the apiserver would write under POLICY, exactly as it writes them' },
  examples: [
    'kubetrail policy simulate audit-policy.yaml /var/log/kubernetes/audit/audit.log',
    'kubetrail policy simulate low-write.yaml audit-*.log.gz --output ndjson > replayed.log',
    'kubetrail policy simulate new.yaml recorded.log -o json | jq .projection',
  ],
  async handler(args, opts, ctx: CommandContext) {
    const [policyFile, ...logs] = args
    if (!policyFile || logs.length === 0) throw new UsageError('simulate needs a policy and at least one log')
    const top = Number(opts.top)
    if (!Number.isInteger(top) || top < 1) throw new UsageError(`--top must be a positive integer, not "${opts.top}"`)
    const loaded = await loadPolicyFile(policyFile, { kubernetesVersion: parseKubernetesVersion(opts.kubernetesVersion) })
    const source = logInput(logs, ctx)
    source.warnings.push(...loaded.warnings.map((w) => `warning: ${w.file}:${w.line ?? '?'}: ${w.message}`))
    if (opts.output === 'ndjson') {
      // streamed: warnings and the exit code are known once the output has been consumed
      const result = { output: ndjsonOutput(source, loaded), warnings: source.warnings, exitCode: 0 }
      return Object.defineProperty(result, 'exitCode', { get: () => (source.malformedCount() > 0 ? 1 : 0), enumerable: true })
    }
    const ruleLevels = loaded.rules.map((r) => (r.level ?? 'None') as Level)
    const sim = createSimulation(compilePolicy(loaded.policy, { kubernetesVersion: loaded.kubernetesVersion }), ruleLevels)
    for (const log of logs) {
      if (await canSimulateInParallel(log)) {
        try {
          mergeSimulationStates(sim.state, await simulateInParallel(log, loaded, ruleLevels, source.report))
          continue
        } catch (error) {
          // nothing of this log was counted yet: read it in this thread instead
          source.warnings.push(`note: parallel replay of ${log} failed (${errorMessage(error)}); reading it in one thread`)
        }
      }
      for await (const batch of source.batches('head', [log])) for (const rec of batch) sim.add(rec)
    }
    source.finish()
    const summary = sim.summary(top)
    return { report: { data: summary, text: () => renderSimulationSummary(policyFile, loaded, summary, logs) }, warnings: source.warnings, exitCode: source.malformedCount() > 0 ? 1 : 0 }
  },
})
