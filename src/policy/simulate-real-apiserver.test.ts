/**
 * `simulate` against ground truth: a real kube-apiserver v1.20.2 wrote `runs/full/audit.log`
 * under a catch-all RequestResponse policy and, for the same scripted traffic, `runs/<policy>/`
 * under other policies. Replaying the full run under each policy must give the same events:
 * same requests, same stages, same level, same presence of request/response objects.
 *
 * Two things legitimately differ between runs and are normalised, never ignored silently:
 * - requests the apiserver makes to itself (`system:apiserver`: informers, bootstrap,
 *   endpoint reconciler) and anonymous `/readyz` start-up polls, whose number depends on timing;
 *   they are compared separately by their policy decision, not by count;
 * - `resourceVersion=N` in watch URLs, which etcd assigns per run.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { goJson, replayEvent, replayVerdict } from './replay.js'
import { attributesFromEvent, compilePolicy, loadPolicyFile, parseKubernetesVersion } from './index.js'
import type { AuditEvent } from '../model/index.js'

const KUBERNETES_1_20 = parseKubernetesVersion('1.20')

function readEvents(file: string): AuditEvent[] {
  return readFileSync(requireFixture(file), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0 && l.endsWith('}'))
    .map((l) => JSON.parse(l) as AuditEvent)
}

function isTimingDependent(e: AuditEvent): boolean {
  return e.user.username === 'system:apiserver' || e.requestURI.startsWith('/readyz')
}

/** What must match between the replayed and the real event. */
function signature(e: AuditEvent): string {
  return [
    e.stage,
    e.level,
    e.verb,
    e.requestURI.replace(/resourceVersion=\d+/g, 'resourceVersion=N'),
    e.user.username ?? '',
    e.impersonatedUser?.username ?? '',
    e.responseStatus?.code ?? '',
    e.requestObject === undefined ? 'noReq' : 'req',
    e.responseObject === undefined ? 'noResp' : 'resp',
  ].join(' ')
}

function multiset(events: AuditEvent[]): Map<string, number> {
  const m = new Map<string, number>()
  for (const e of events) m.set(signature(e), (m.get(signature(e)) ?? 0) + 1)
  return m
}

function differences(a: Map<string, number>, b: Map<string, number>): string[] {
  const out: string[] = []
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const d = (a.get(k) ?? 0) - (b.get(k) ?? 0)
    if (d !== 0) out.push(`${d > 0 ? '+' : ''}${d} ${k}`)
  }
  return out
}

const full = () => readEvents(resolve(FIXTURES_DIR, 'runs/full/audit.log'))

async function replay(policyFile: string, events: AuditEvent[]): Promise<AuditEvent[]> {
  const loaded = await loadPolicyFile(requireFixture(policyFile), { kubernetesVersion: KUBERNETES_1_20 })
  const evaluator = compilePolicy(loaded.policy, { kubernetesVersion: loaded.kubernetesVersion })
  const out: AuditEvent[] = []
  for (const e of events) {
    const d = evaluator.evaluate(attributesFromEvent(e))
    if (replayVerdict(e.stage, d) === 'kept') out.push(replayEvent(e, d))
  }
  return out
}

// runs whose policy differs from `full` and whose traffic is the same scripted traffic
const RUNS = ['seed-main', 'minimal', 'batch/blocking', 'batch/max-size-50-wait-2s', 'write-errors/webhook-500', 'write-errors/webhook-down']

describe('simulate reproduces a real kube-apiserver event for event', () => {
  const recorded = full()

  it('the full run is what the tests assume: every stage, every event at RequestResponse', () => {
    expect(recorded.length).toBe(1891)
    expect(new Set(recorded.map((e) => e.level))).toEqual(new Set(['RequestResponse']))
  })

  for (const run of RUNS) {
    it(`full run replayed under ${run}'s policy equals the ${run} run`, async () => {
      const real = readEvents(resolve(FIXTURES_DIR, 'runs', run, 'audit.log'))
      const simulated = await replay(resolve(FIXTURES_DIR, 'runs', run, 'policy.yaml'), recorded)
      const diff = differences(multiset(simulated.filter((e) => !isTimingDependent(e))), multiset(real.filter((e) => !isTimingDependent(e))))
      expect(diff).toEqual([])
      // the compared part is most of the traffic, not a sliver
      expect(real.filter((e) => !isTimingDependent(e)).length).toBeGreaterThan(run === 'minimal' ? 30 : 500)
    })

    it(`${run}: the apiserver's own and start-up requests get the level and stages the real run shows`, async () => {
      const real = readEvents(resolve(FIXTURES_DIR, 'runs', run, 'audit.log')).filter(isTimingDependent)
      const simulated = await replay(resolve(FIXTURES_DIR, 'runs', run, 'policy.yaml'), recorded.filter(isTimingDependent))
      // same kinds of events (by stage/level/verb/path shape), counts may differ with timing
      const shape = (e: AuditEvent) => `${e.stage} ${e.level} ${e.verb} ${e.requestURI.split('?')[0]} ${e.requestObject === undefined} ${e.responseObject === undefined}`
      const realShapes = new Set(real.map(shape))
      const simShapes = new Set(simulated.map(shape))
      const common = [...simShapes].filter((s) => realShapes.has(s))
      // every shape seen in both runs agrees; a shape can only be missing because that request did not happen in one run
      for (const s of simShapes) {
        const [stage, level, verb, path] = s.split(' ')
        const conflicting = [...realShapes].filter((r) => {
          const [rs, rl, rv, rp] = r.split(' ')
          return rs === stage && rv === verb && rp === path && rl !== level
        })
        expect(conflicting, `level conflict for ${s}`).toEqual([])
      }
      if (simShapes.size > 0) expect(common.length).toBeGreaterThan(0)
    })
  }

  it('replayed lines are byte-identical to the real log where the events are the same request', async () => {
    const real = readEvents(resolve(FIXTURES_DIR, 'runs/seed-main/audit.log'))
    const simulated = await replay(resolve(FIXTURES_DIR, 'runs/seed-main/policy.yaml'), recorded)
    // A failed login (401) carries no per-run values but the auditID and timestamps; compare the rest byte for byte.
    const strip = (e: AuditEvent) => goJson({ ...e, auditID: '', requestReceivedTimestamp: '', stageTimestamp: '' })
    const real401 = real.filter((e) => e.responseStatus?.code === 401).map(strip)
    const sim401 = simulated.filter((e) => e.responseStatus?.code === 401).map(strip)
    expect(sim401.length).toBeGreaterThan(0)
    expect(sim401).toEqual(real401)
  })
})
