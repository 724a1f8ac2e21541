/**
 * @module `kubetrail policy simulate POLICY LOG...`: what the apiserver would have written under
 * POLICY for the traffic recorded in LOG (recorded with a catch-all RequestResponse rule and no
 * omitted stages), as a cost summary or as the events themselves.
 */
import { defineCommand, KUBERNETES_VERSION_OPTION, type CommandContext } from '../command.js'
import { formatBytes, formatCount, formatPercent, table } from '../format.js'
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
  output: string
  top: string
  kubernetesVersion?: string
}

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
    table(
      ['rule', 'line', 'level', 'events', 'bytes', 'share', 'omitted-stage', 'rule summary'],
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
    ),
  )
  out.push('', 'By level:')
  out.push(
    table(
      ['level', 'events', 'bytes'],
      (['Metadata', 'Request', 'RequestResponse'] as const).map((l) => [l, formatCount(s.byLevel[l].events), formatBytes(s.byLevel[l].bytes)]),
    ),
  )
  out.push('', 'By stage:')
  out.push(
    table(
      ['stage', 'events', 'bytes'],
      (['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const).map((st) => [st, formatCount(s.byStage[st].events), formatBytes(s.byStage[st].bytes)]),
    ),
  )
  out.push('', `Top ${s.byResource.length} resources by bytes written:`)
  out.push(table(['resource', 'events', 'bytes'], s.byResource.map((r) => [r.key, formatCount(r.events), formatBytes(r.bytes)])))
  out.push('', `Top ${s.byUser.length} users by bytes written:`)
  out.push(table(['user', 'events', 'bytes'], s.byUser.map((r) => [r.key, formatCount(r.events), formatBytes(r.bytes)])))
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
    { flags: '-o, --output <format>', description: 'summary (text), json (the summary as JSON), or ndjson (the events)', default: 'summary', choices: ['summary', 'json', 'ndjson'] },
    { flags: '--top <n>', description: 'rows in the per-resource and per-user tables', default: '10' },
    KUBERNETES_VERSION_OPTION,
  ],
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
    const output = opts.output === 'json' ? JSON.stringify(summary, null, 2) + '\n' : renderSimulationSummary(policyFile, loaded, summary, logs)
    return { output, warnings: source.warnings, exitCode: source.malformedCount() > 0 ? 1 : 0 }
  },
})
