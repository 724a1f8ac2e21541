/**
 * @module The `audit.k8s.io/v1` API objects kubetrail reads and writes: Event, EventList and
 * Policy: the constants and types. Each object is declared once as a TypeBox schema
 * (`audit-schema.ts`), which gives both the TypeScript type and a compiled runtime check, so the
 * type and the validation never drift; this module imports the schemas as types only, so the
 * commands that never check an event (`--help`, `policy check`, a query of the store) start
 * without loading TypeBox (~220 modules).
 *
 * Field names, optionality and order follow k8s.io/apiserver `pkg/apis/audit/v1/types.go`.
 * @see https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/
 */

export const API_GROUP = 'audit.k8s.io'
export const API_VERSION = 'audit.k8s.io/v1'

/** Levels in increasing order of detail; the order matters (`levelAtLeast`). */
export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const
export type Level = (typeof LEVELS)[number]

/** Stages in the order the apiserver emits them for one request. */
export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const
export type Stage = (typeof STAGES)[number]

const LEVEL_RANK: Record<Level, number> = { None: 0, Metadata: 1, Request: 2, RequestResponse: 3 }

export function isLevel(v: unknown): v is Level {
  return typeof v === 'string' && Object.hasOwn(LEVEL_RANK, v)
}

export function isStage(v: unknown): v is Stage {
  return typeof v === 'string' && (STAGES as readonly string[]).includes(v)
}

/** `Level.GreaterOrEqual` from the apiserver. */
export function levelAtLeast(level: Level, min: Level): boolean {
  return LEVEL_RANK[level] >= LEVEL_RANK[min]
}

export type { UserInfo, ObjectReference, ResponseStatus, AuditEvent, EventList, GroupResources, PolicyRule, Policy } from './audit-schema.js'
