/**
 * @module From stage events to requests.
 */
import type { StoredEvent } from '../store/index.js'

/** Requests, not stage events: the event that carries the outcome of each auditID. */
export function oneEventPerRequest(events: readonly StoredEvent[]): StoredEvent[] {
  const rank: Record<string, number> = { ResponseComplete: 3, Panic: 3, ResponseStarted: 2, RequestReceived: 1 }
  const best = new Map<string, StoredEvent>()
  for (const e of events) {
    const key = `${e.cluster}\u0000${e.event.auditID}\u0000${e.event.requestReceivedTimestamp}`
    const cur = best.get(key)
    if (!cur || (rank[e.event.stage] ?? 0) > (rank[cur.event.stage] ?? 0)) best.set(key, e)
  }
  return [...best.values()]
}
