/**
 * @module From stage events to requests.
 */
import type { Stage } from '../model/index.js'
import type { StoredEvent } from '../store/index.js'

const STAGE_RANK: Record<Stage, number> = { ResponseComplete: 3, Panic: 3, ResponseStarted: 2, RequestReceived: 1 }

/** A later stage carries more of the request's outcome: the response code, and on 1.20 the impersonation. */
export function stageRank(stage: string): number {
  return STAGE_RANK[stage as Stage] ?? 0
}

/**
 * Requests, not stage events, from a stream ordered by request time (as the store returns it):
 * the event of each request's latest stage, as `EventQuery.perRequest` chooses in the store, for
 * events that are filtered here first (--where, presets reading bodies). Every stage of a request
 * has the same requestReceivedTimestamp, so a request is complete once that time changes.
 */
export async function* latestStagePerRequest(events: AsyncIterable<StoredEvent>): AsyncGenerator<StoredEvent> {
  let time: string | undefined
  let run = new Map<string, StoredEvent>()
  for await (const e of events) {
    if (e.event.requestReceivedTimestamp !== time) {
      yield* run.values()
      run = new Map()
      time = e.event.requestReceivedTimestamp
    }
    const key = `${e.cluster}\u0000${e.event.auditID}`
    const cur = run.get(key)
    if (!cur || stageRank(e.event.stage) > stageRank(cur.event.stage)) run.set(key, e)
  }
  yield* run.values()
}
