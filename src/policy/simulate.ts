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

const LEVEL_FIELD_OVERHEAD = 0 // the level's key and quotes are unchanged; only the name differs

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
  let bytes = input.bytes + decision.level.length - recorded.length + LEVEL_FIELD_OVERHEAD
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
  summary(topN?: number): SimulationSummary
}

interface Evaluator {
  evaluate(attrs: ReturnType<typeof attributesFromEvent>): Decision
}

function topEntries(map: Map<string, Tally>, n: number): Array<{ key: string } & Tally> {
  return [...map.entries()]
    .map(([key, t]) => ({ key, ...t }))
    .sort((a, b) => b.bytes - a.bytes || b.events - a.events || a.key.localeCompare(b.key))
    .slice(0, n)
}

export function createSimulation(evaluator: Evaluator, ruleLevels: readonly Level[]): Simulation {
  const input = { events: 0, bytes: 0, byLevel: recordOf(LEVELS, () => 0), byStage: recordOf(STAGES, () => 0) }
  let first: string | undefined
  let last: string | undefined
  const kept = emptyTally()
  const byRule = new Map<number | null, RuleTally>()
  const byLevel = recordOf(LEVELS, emptyTally)
  const byStage = recordOf(STAGES, emptyTally)
  const byResource = new Map<string, Tally>()
  const byUser = new Map<string, Tally>()
  const dropped = { levelNone: emptyTally(), stageOmitted: emptyTally() }
  let underRecorded = 0
  let legacy = 0

  function ruleTally(d: Decision): RuleTally {
    let t = byRule.get(d.ruleIndex)
    if (!t) {
      t = { rule: d.ruleIndex, level: d.level, events: 0, bytes: 0, omittedStageEvents: 0, notLoggedEvents: 0 }
      byRule.set(d.ruleIndex, t)
    }
    return t
  }

  function tallyInto(map: Map<string, Tally>, key: string, bytes: number): void {
    let t = map.get(key)
    if (!t) map.set(key, (t = emptyTally()))
    add(t, bytes)
  }

  return {
    add(rec) {
      const ev = rec.event
      input.events++
      input.bytes += rec.bytes + 1
      input.byLevel[ev.level]++
      input.byStage[ev.stage]++
      if (first === undefined || ev.requestReceivedTimestamp < first) first = ev.requestReceivedTimestamp
      if (last === undefined || ev.stageTimestamp > last) last = ev.stageTimestamp
      if (rec.legacy) legacy++

      const decision = evaluator.evaluate(attributesFromEvent(ev))
      const verdict = replayVerdict(ev.stage, decision)
      const rule = ruleTally(decision)
      if (verdict === 'dropped-level-none') {
        rule.notLoggedEvents++
        add(dropped.levelNone, rec.bytes + 1)
        return verdict
      }
      if (verdict === 'dropped-stage-omitted') {
        rule.omittedStageEvents++
        add(dropped.stageOmitted, rec.bytes + 1)
        return verdict
      }
      if (isUnderRecorded(ev.level, decision.level)) underRecorded++
      const bytes = replayedBytes(rec, decision) + 1
      add(kept, bytes)
      add(rule, bytes)
      add(byLevel[decision.level], bytes)
      add(byStage[ev.stage], bytes)
      tallyInto(byResource, resourceKey(ev), bytes)
      tallyInto(byUser, userKey(ev), bytes)
      return verdict
    },

    summary(topN = 10) {
      const spanSeconds = first && last ? Math.max(0, (Date.parse(last) - Date.parse(first)) / 1000) : 0
      const estimates: string[] = []
      if (legacy > 0)
        estimates.push(
          `${legacy} events came from the legacy text format, which records no level and no bodies: their sizes are the sizes of JSON events rebuilt from it, a lower bound.`,
        )
      if (underRecorded > 0)
        estimates.push(
          `${underRecorded} kept events were recorded at a lower level than this policy logs them at: their bodies were never captured, so their byte figures are lower bounds.`,
        )
      if (input.byStage.RequestReceived === 0 && input.events > 0)
        estimates.push(
          'the input has no RequestReceived events (omitted when it was recorded): if this policy keeps that stage, the real event count is up to one more per request.',
        )
      if (spanSeconds < 60 && input.events > 0)
        estimates.push(`the input spans only ${spanSeconds.toFixed(1)} s: the per-second and per-day projection is rough.`)
      const ruleOrder = [...byRule.values()].sort((a, b) => (a.rule ?? Infinity) - (b.rule ?? Infinity))
      // Rules that matched nothing are listed too, so a dead rule shows up as zero.
      const allRules: RuleTally[] = ruleLevels.map(
        (level, i) => byRule.get(i) ?? { rule: i, level, events: 0, bytes: 0, omittedStageEvents: 0, notLoggedEvents: 0 },
      )
      const noMatch = ruleOrder.find((r) => r.rule === null)
      return {
        input: { ...input, firstTimestamp: first, lastTimestamp: last, spanSeconds },
        kept,
        byRule: noMatch ? [...allRules, noMatch] : allRules,
        byLevel,
        byStage,
        byResource: topEntries(byResource, topN),
        byUser: topEntries(byUser, topN),
        dropped,
        projection:
          spanSeconds > 0 ? { eventsPerSecond: kept.events / spanSeconds, bytesPerDay: (kept.bytes / spanSeconds) * 86_400 } : undefined,
        estimates,
      }
    },
  }
}
