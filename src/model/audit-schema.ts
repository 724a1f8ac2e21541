/**
 * @module The TypeBox schemas of the `audit.k8s.io/v1` objects (types and runtime checks from one
 * declaration). Loaded only with the checks (`check.ts`): TypeBox is ~220 modules to load.
 *
 * Field names, optionality and order follow k8s.io/apiserver `pkg/apis/audit/v1/types.go`.
 * @see https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/
 */
import { FormatRegistry, Kind, Type, TypeRegistry, type Static } from '@sinclair/typebox'
import { isAuditTime } from './audit-time.js'
import { LEVELS, STAGES } from './audit.js'

const StringList = Type.Array(Type.String())

function isMapOf(value: unknown, isValue: (v: unknown) => boolean): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  for (const key in value) if (!isValue((value as Record<string, unknown>)[key])) return false
  return true
}
const isString = (v: unknown) => typeof v === 'string'
const isStringList = (v: unknown) => Array.isArray(v) && v.every(isString)

// String-keyed maps (annotations, user.extra) are custom kinds: TypeBox's Record check tests a
// regular expression against every key, which made reading audit logs ~10 % slower.
TypeRegistry.Set('StringMap', (_schema, value) => isMapOf(value, isString))
TypeRegistry.Set('StringListMap', (_schema, value) => isMapOf(value, isStringList))
const StringMap = Type.Unsafe<Record<string, string>>({ [Kind]: 'StringMap', type: 'object', additionalProperties: { type: 'string' } })
const StringListMap = Type.Unsafe<Record<string, string[]>>({ [Kind]: 'StringListMap', type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } })

// What the store can keep (src/model/audit-time.ts): checked here so the collector refuses, with
// a reason, an event it could not store, instead of acknowledging it.
FormatRegistry.Set('audit-time', isAuditTime)
const AuditTime = Type.String({ format: 'audit-time' })

export const UserInfoSchema = Type.Object(
  {
    username: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    groups: Type.Optional(StringList),
    extra: Type.Optional(StringListMap),
  },
  { additionalProperties: true },
)
export type UserInfo = Static<typeof UserInfoSchema>

export const ObjectReferenceSchema = Type.Object(
  {
    resource: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    apiGroup: Type.Optional(Type.String()),
    apiVersion: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    subresource: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
)
export type ObjectReference = Static<typeof ObjectReferenceSchema>

export const ResponseStatusSchema = Type.Object(
  {
    metadata: Type.Optional(Type.Unknown()),
    status: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    details: Type.Optional(Type.Unknown()),
    code: Type.Optional(Type.Integer()),
  },
  { additionalProperties: true },
)
export type ResponseStatus = Static<typeof ResponseStatusSchema>

const LevelSchema = Type.Union(LEVELS.map((l) => Type.Literal(l)))
const StageSchema = Type.Union(STAGES.map((s) => Type.Literal(s)))

/**
 * One audit event. `kind`/`apiVersion` are present in log-backend lines but absent on the
 * items of a webhook `EventList`, so both are optional here.
 */
export const EventSchema = Type.Object(
  {
    kind: Type.Optional(Type.Literal('Event')),
    apiVersion: Type.Optional(Type.String()),
    level: LevelSchema,
    auditID: Type.String({ minLength: 1 }),
    stage: StageSchema,
    requestURI: Type.String(),
    verb: Type.String(),
    user: UserInfoSchema,
    impersonatedUser: Type.Optional(UserInfoSchema),
    sourceIPs: Type.Optional(StringList),
    userAgent: Type.Optional(Type.String()),
    objectRef: Type.Optional(ObjectReferenceSchema),
    responseStatus: Type.Optional(ResponseStatusSchema),
    requestObject: Type.Optional(Type.Unknown()),
    responseObject: Type.Optional(Type.Unknown()),
    requestReceivedTimestamp: AuditTime,
    stageTimestamp: AuditTime,
    annotations: Type.Optional(StringMap),
  },
  { additionalProperties: true },
)
export type AuditEvent = Static<typeof EventSchema>

export const EventListSchema = Type.Object(
  {
    kind: Type.Literal('EventList'),
    apiVersion: Type.String(),
    metadata: Type.Optional(Type.Unknown()),
    items: Type.Array(Type.Unknown()),
  },
  { additionalProperties: true },
)
export type EventList = Static<typeof EventListSchema>

export const GroupResourcesSchema = Type.Object(
  {
    group: Type.Optional(Type.String()),
    resources: Type.Optional(StringList),
    resourceNames: Type.Optional(StringList),
  },
  { additionalProperties: false },
)
export type GroupResources = Static<typeof GroupResourcesSchema>

/**
 * A policy rule as written. `level` and the stage names are plain strings here because the
 * apiserver decodes any string and only rejects bad values in validation (with its own
 * messages, which `validatePolicy` reproduces).
 */
export const PolicyRuleSchema = Type.Object(
  {
    level: Type.Optional(Type.String()),
    users: Type.Optional(StringList),
    userGroups: Type.Optional(StringList),
    verbs: Type.Optional(StringList),
    resources: Type.Optional(Type.Array(GroupResourcesSchema)),
    namespaces: Type.Optional(StringList),
    nonResourceURLs: Type.Optional(StringList),
    omitStages: Type.Optional(StringList),
    omitManagedFields: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type PolicyRule = Static<typeof PolicyRuleSchema>

export const PolicySchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: Type.Optional(Type.Unknown()),
    rules: Type.Optional(Type.Array(PolicyRuleSchema)),
    omitStages: Type.Optional(StringList),
    omitManagedFields: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type Policy = Static<typeof PolicySchema>
