/**
 * @module `policy diff`: the same recorded traffic replayed under two policies, grouped by the
 * pair of rules that decided each event, so a reviewer sees which rule change gains or loses
 * which events and how many bytes.
 */
import type { Level } from '../model/index.js'
import { attributesFromEvent } from './attributes.js'
import { replayVerdict } from './replay.js'
import { replayedBytes, type ReplayInput, type Tally } from './simulate.js'
import type { Decision } from './types.js'

interface Evaluator {
  evaluate(attrs: ReturnType<typeof attributesFromEvent>): Decision
}

/** One side of a transition: which rule decided, at what level, and whether the event is written. */
export interface DiffSide {
  rule: number | null
  level: Level
  kept: boolean
}

export interface DiffTransition {
  old: DiffSide
  new: DiffSide
  events: number
  oldBytes: number
  newBytes: number
  /** `gained` (only NEW writes it), `lost` (only OLD), `level-changed`, `unchanged`, `not-logged` (neither). */
  change: 'gained' | 'lost' | 'level-changed' | 'unchanged' | 'not-logged'
}

export interface PolicyDiffSummary {
  input: { events: number }
  old: Tally
  new: Tally
  gained: Tally
  lost: Tally
  levelChanged: { events: number; oldBytes: number; newBytes: number }
  transitions: DiffTransition[]
}

function classify(a: DiffSide, b: DiffSide): DiffTransition['change'] {
  if (!a.kept && !b.kept) return 'not-logged'
  if (!a.kept) return 'gained'
  if (!b.kept) return 'lost'
  return a.level === b.level ? 'unchanged' : 'level-changed'
}

function side(decision: Decision, input: ReplayInput): { side: DiffSide; bytes: number } {
  const kept = replayVerdict(input.event.stage, decision) === 'kept'
  return {
    side: { rule: decision.ruleIndex, level: decision.level, kept },
    bytes: kept ? replayedBytes(input, decision) + 1 : 0,
  }
}

export interface PolicyDiff {
  add(input: ReplayInput): void
  summary(): PolicyDiffSummary
}

export function createPolicyDiff(oldPolicy: Evaluator, newPolicy: Evaluator): PolicyDiff {
  const transitions = new Map<string, DiffTransition>()
  let events = 0
  return {
    add(input) {
      events++
      const attrs = attributesFromEvent(input.event)
      const a = side(oldPolicy.evaluate(attrs), input)
      const b = side(newPolicy.evaluate(attrs), input)
      const key = `${a.side.rule}|${a.side.kept}|${b.side.rule}|${b.side.kept}`
      let t = transitions.get(key)
      if (!t) {
        t = { old: a.side, new: b.side, events: 0, oldBytes: 0, newBytes: 0, change: classify(a.side, b.side) }
        transitions.set(key, t)
      }
      t.events++
      t.oldBytes += a.bytes
      t.newBytes += b.bytes
    },

    summary() {
      const all = [...transitions.values()]
      const sum = (pick: (t: DiffTransition) => number, filter: (t: DiffTransition) => boolean) =>
        all.filter(filter).reduce((n, t) => n + pick(t), 0)
      const oldKept = (t: DiffTransition) => t.old.kept
      const newKept = (t: DiffTransition) => t.new.kept
      const is = (c: DiffTransition['change']) => (t: DiffTransition) => t.change === c
      return {
        input: { events },
        old: { events: sum((t) => t.events, oldKept), bytes: sum((t) => t.oldBytes, oldKept) },
        new: { events: sum((t) => t.events, newKept), bytes: sum((t) => t.newBytes, newKept) },
        gained: { events: sum((t) => t.events, is('gained')), bytes: sum((t) => t.newBytes, is('gained')) },
        lost: { events: sum((t) => t.events, is('lost')), bytes: sum((t) => t.oldBytes, is('lost')) },
        levelChanged: {
          events: sum((t) => t.events, is('level-changed')),
          oldBytes: sum((t) => t.oldBytes, is('level-changed')),
          newBytes: sum((t) => t.newBytes, is('level-changed')),
        },
        // Biggest effect first: what a reviewer should look at.
        transitions: all.sort(
          (x, y) => Math.abs(y.newBytes - y.oldBytes) - Math.abs(x.newBytes - x.oldBytes) || y.events - x.events,
        ),
      }
    },
  }
}
