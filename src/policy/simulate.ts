/**
 * @module `policy simulate`: replay recorded events under a policy and tally what it would
 * write (events and bytes per rule, level, resource and user), with a projection to events/s
 * and GB/day over the input's time span.
 *
 * Byte figures are exact for events recorded at or above the level the policy asks for: the
 * replayed line's size is the recorded line's size minus the bodies the new level drops (their
 * spans in the recorded line), adjusted for the level name, and minus `managedFields` where
 * the policy omits them. No event is re-serialized for the summary, which keeps it fast.
 */
import { LEVELS, STAGES, levelAtLeast, type AuditEvent, type Level, type Stage } from '../model/index.js'
import { goJson, isUnderRecorded, replayVerdict, withoutManagedFields, type ReplayVerdict } from './replay.js'
import { attributesFromEvent } from './attributes.js'
import type { Decision } from './types.js'

/** One recorded event as the simulation needs it; the bodies are parsed only on demand. */
export interface ReplayInput {
  /** All top-level fields; `requestObject`/`responseObject` may be left out. */
  event: AuditEvent
  /** Size of the recorded line in bytes, without the newline. */
  bytes: number
  /** Bytes `,"requestObject":<value>` takes in the recorded line; 0 when absent. */
  requestObjectBytes: number
  /** Bytes `,"responseObject":<value>` takes in the recorded line; 0 when absent. */
  responseObjectBytes: number
  /** The parsed body, for `omitManagedFields`. */
  body(which: 'requestObject' | 'responseObject'): unknown
  /** Recorded in the legacy text format: no level, no bodies, sizes are not comparable. */
  legacy?: boolean
}

export interface Tally {
  events: number
  bytes: number
}

export interface RuleTally extends Tally {
  /** 0-based rule index; null = no rule matched. */
  rule: number | null
  level: Level
  /** Events the rule matched whose stage it omits. */
  omittedStageEvents: number
  /** Events matched at level None (not logged). */
  notLoggedEvents: number
}

export interface SimulationSummary {
  input: {
    events: number
    bytes: number
    byLevel: Record<Level, number>
    byStage: Record<Stage, number>
    firstTimestamp: string | undefined
    lastTimestamp: string | undefined
    spanSeconds: number
  }
  kept: Tally
  byRule: RuleTally[]
  byLevel: Record<Level, Tally>
  byStage: Record<Stage, Tally>
  byResource: Array<{ key: string } & Tally>
  byUser: Array<{ key: string } & Tally>
  dropped: { levelNone: Tally; stageOmitted: Tally }
  projection: { eventsPerSecond: number; bytesPerDay: number } | undefined
  /** Why some figures are estimates (empty when every figure is exact). */
  estimates: string[]
}

function emptyTally(): Tally {
  return { events: 0, bytes: 0 }
}

function recordOf<K extends string, V>(keys: readonly K[], make: () => V): Record<K, V> {
  return Object.fromEntries(keys.map((k) => [k, make()])) as Record<K, V>
}

function add(t: Tally, bytes: number): void {
  t.events++
  t.bytes += bytes
}

/** `deployments.apps`, `pods/exec`, or the URL path for non-resource requests. */
export function resourceKey(event: AuditEvent): string {
  const ref = event.objectRef
  if (!ref?.resource) return event.requestURI.split('?', 1)[0] ?? event.requestURI
  const res = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource
  return ref.apiGroup ? `${res}.${ref.apiGroup}` : res
}

export function userKey(event: AuditEvent): string {
  return event.user.username ?? '(unauthenticated)'
}

/** Bytes the managedFields of a kept body take in Go's encoding. */
function managedFieldsBytes(body: unknown): number {
  if (body === undefined || body === null || typeof body !== 'object') return 0
  const stripped = withoutManagedFields(body)
  if (stripped === body) return 0
  return Buffer.byteLength(goJson(body)) - Buffer.byteLength(goJson(stripped))
}

/** Size of the event the apiserver would write at `decision`, from the recorded line's size. */
export function replayedBytes(input: ReplayInput, decision: Decision): number {
  const recorded = input.event.level
  // the level's key and quotes stay; only the name's length changes
  let bytes = input.bytes + decision.level.length - recorded.length
  const keepsRequest = levelAtLeast(decision.level, 'Request')
  const keepsResponse = levelAtLeast(decision.level, 'RequestResponse')
  if (!keepsRequest) bytes -= input.requestObjectBytes
  if (!keepsResponse) bytes -= input.responseObjectBytes
  if (decision.omitManagedFields) {
    if (keepsRequest && input.requestObjectBytes > 0) bytes -= managedFieldsBytes(input.body('requestObject'))
    if (keepsResponse && input.responseObjectBytes > 0) bytes -= managedFieldsBytes(input.body('responseObject'))
  }
  return bytes
}

export interface Simulation {
  add(input: ReplayInput): ReplayVerdict
  /** The running tallies; plain data (Maps included) so workers can send theirs to be merged. */
  readonly state: SimulationState
  summary(topN?: number): SimulationSummary
}

interface Evaluator {
  evaluate(attrs: ReturnType<typeof attributesFromEvent>): Decision
}

/** Everything a simulation counts; mergeable (`mergeSimulationStates`) and structured-clonable. */
export interface SimulationState {
  input: { events: number; bytes: number; byLevel: Record<Level, number>; byStage: Record<Stage, number> }
  first: string | undefined
  last: string | undefined
  kept: Tally
  byRule: Map<number | null, RuleTally>
  byLevel: Record<Level, Tally>
  byStage: Record<Stage, Tally>
  byResource: Map<string, Tally>
  byUser: Map<string, Tally>
  dropped: { levelNone: Tally; stageOmitted: Tally }
  underRecorded: number
  legacy: number
}

export function newSimulationState(): SimulationState {
  return {
    input: { events: 0, bytes: 0, byLevel: recordOf(LEVELS, () => 0), byStage: recordOf(STAGES, () => 0) },
    first: undefined,
    last: undefined,
    kept: emptyTally(),
    byRule: new Map(),
    byLevel: recordOf(LEVELS, emptyTally),
    byStage: recordOf(STAGES, emptyTally),
    byResource: new Map(),
    byUser: new Map(),
    dropped: { levelNone: emptyTally(), stageOmitted: emptyTally() },
    underRecorded: 0,
    legacy: 0,
  }
}

function addTally(into: Tally, from: Tally): void {
  into.events += from.events
  into.bytes += from.bytes
}

function mergeTallyMap(into: Map<string, Tally>, from: Map<string, Tally>): void {
  for (const [k, t] of from) {
    const mine = into.get(k)
    if (mine) addTally(mine, t)
    else into.set(k, { ...t })
  }
}

/** Adds `from`'s counts to `into` (simulations of disjoint parts of the same input). */
export function mergeSimulationStates(into: SimulationState, from: SimulationState): void {
  into.input.events += from.input.events
  into.input.bytes += from.input.bytes
  for (const l of LEVELS) into.input.byLevel[l] += from.input.byLevel[l]
  for (const st of STAGES) into.input.byStage[st] += from.input.byStage[st]
  if (from.first !== undefined && (into.first === undefined || from.first < into.first)) into.first = from.first
  if (from.last !== undefined && (into.last === undefined || from.last > into.last)) into.last = from.last
  addTally(into.kept, from.kept)
  for (const [k, r] of from.byRule) {
    const mine = into.byRule.get(k)
    if (!mine) into.byRule.set(k, { ...r })
    else {
      addTally(mine, r)
      mine.omittedStageEvents += r.omittedStageEvents
      mine.notLoggedEvents += r.notLoggedEvents
    }
  }
  for (const l of LEVELS) addTally(into.byLevel[l], from.byLevel[l])
  for (const st of STAGES) addTally(into.byStage[st], from.byStage[st])
  mergeTallyMap(into.byResource, from.byResource)
  mergeTallyMap(into.byUser, from.byUser)
  addTally(into.dropped.levelNone, from.dropped.levelNone)
  addTally(into.dropped.stageOmitted, from.dropped.stageOmitted)
  into.underRecorded += from.underRecorded
  into.legacy += from.legacy
}

function topEntries(map: Map<string, Tally>, n: number): Array<{ key: string } & Tally> {
  return [...map.entries()]
    .map(([key, t]) => ({ key, ...t }))
    .sort((a, b) => b.bytes - a.bytes || b.events - a.events || a.key.localeCompare(b.key))
    .slice(0, n)
}

function estimatesOf(s: SimulationState, spanSeconds: number): string[] {
  const estimates: string[] = []
  if (s.legacy > 0)
    estimates.push(
      `${s.legacy} events came from the legacy text format, which records no level and no bodies: their sizes are the sizes of JSON events rebuilt from it, a lower bound.`,
    )
  if (s.underRecorded > 0)
    estimates.push(
      `${s.underRecorded} kept events were recorded at a lower level than this policy logs them at: their bodies were never captured, so their byte figures are lower bounds.`,
    )
  if (s.input.byStage.RequestReceived === 0 && s.input.events > 0)
    estimates.push(
      'the input has no RequestReceived events (omitted when it was recorded): if this policy keeps that stage, the real event count is up to one more per request.',
    )
  if (spanSeconds < 60 && s.input.events > 0)
    estimates.push(`the input spans only ${spanSeconds.toFixed(1)} s: the per-second and per-day projection is rough.`)
  return estimates
}

/** The report: rules in policy order (unmatched rules as zeros, so dead rules show), top-N tables. */
export function summarizeSimulation(s: SimulationState, ruleLevels: readonly Level[], topN = 10): SimulationSummary {
  const spanSeconds = s.first && s.last ? Math.max(0, (Date.parse(s.last) - Date.parse(s.first)) / 1000) : 0
  const allRules: RuleTally[] = ruleLevels.map(
    (level, i) => s.byRule.get(i) ?? { rule: i, level, events: 0, bytes: 0, omittedStageEvents: 0, notLoggedEvents: 0 },
  )
  const noMatch = s.byRule.get(null)
  return {
    input: { ...s.input, firstTimestamp: s.first, lastTimestamp: s.last, spanSeconds },
    kept: s.kept,
    byRule: noMatch ? [...allRules, noMatch] : allRules,
    byLevel: s.byLevel,
    byStage: s.byStage,
    byResource: topEntries(s.byResource, topN),
    byUser: topEntries(s.byUser, topN),
    dropped: s.dropped,
    projection: spanSeconds > 0 ? { eventsPerSecond: s.kept.events / spanSeconds, bytesPerDay: (s.kept.bytes / spanSeconds) * 86_400 } : undefined,
    estimates: estimatesOf(s, spanSeconds),
  }
}

export function createSimulation(evaluator: Evaluator, ruleLevels: readonly Level[]): Simulation {
  const s = newSimulationState()

  function ruleTally(d: Decision): RuleTally {
    let t = s.byRule.get(d.ruleIndex)
    if (!t) {
      t = { rule: d.ruleIndex, level: d.level, events: 0, bytes: 0, omittedStageEvents: 0, notLoggedEvents: 0 }
      s.byRule.set(d.ruleIndex, t)
    }
    return t
  }

  function tallyInto(map: Map<string, Tally>, key: string, bytes: number): void {
    let t = map.get(key)
    if (!t) map.set(key, (t = emptyTally()))
    add(t, bytes)
  }

  return {
    state: s,
    add(rec) {
      const ev = rec.event
      s.input.events++
      s.input.bytes += rec.bytes + 1
      s.input.byLevel[ev.level]++
      s.input.byStage[ev.stage]++
      // MicroTime strings in UTC order like the instants they stand for
      if (s.first === undefined || ev.requestReceivedTimestamp < s.first) s.first = ev.requestReceivedTimestamp
      if (s.last === undefined || ev.stageTimestamp > s.last) s.last = ev.stageTimestamp
      if (rec.legacy) s.legacy++

      const decision = evaluator.evaluate(attributesFromEvent(ev))
      const verdict = replayVerdict(ev.stage, decision)
      const rule = ruleTally(decision)
      if (verdict === 'dropped-level-none') {
        rule.notLoggedEvents++
        add(s.dropped.levelNone, rec.bytes + 1)
        return verdict
      }
      if (verdict === 'dropped-stage-omitted') {
        rule.omittedStageEvents++
        add(s.dropped.stageOmitted, rec.bytes + 1)
        return verdict
      }
      if (isUnderRecorded(ev.level, decision.level)) s.underRecorded++
      const bytes = replayedBytes(rec, decision) + 1
      add(s.kept, bytes)
      add(rule, bytes)
      add(s.byLevel[decision.level], bytes)
      add(s.byStage[ev.stage], bytes)
      tallyInto(s.byResource, resourceKey(ev), bytes)
      tallyInto(s.byUser, userKey(ev), bytes)
      return verdict
    },
    summary(topN = 10) {
      return summarizeSimulation(s, ruleLevels, topN)
    },
  }
}
