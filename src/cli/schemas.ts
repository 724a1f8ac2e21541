/**
 * @module JSON shapes shared by several commands' -o json output (docs/output.md).
 */
import { Type } from '@sinclair/typebox'

/** A problem in an input file, with its position (InputIssue). */
export const ISSUE_SCHEMA = Type.Object(
  {
    file: Type.String(),
    line: Type.Optional(Type.Integer({ minimum: 1 })),
    column: Type.Optional(Type.Integer({ minimum: 1 })),
    field: Type.Optional(Type.String({ description: 'dotted path, e.g. rules[2].level' })),
    message: Type.String(),
  },
  { additionalProperties: false },
)

export const LEVEL_SCHEMA = Type.Union(['None', 'Metadata', 'Request', 'RequestResponse'].map((l) => Type.Literal(l)))
export const STAGE_SCHEMA = Type.Union(['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'].map((s) => Type.Literal(s)))

export const TALLY_SCHEMA = Type.Object({ events: Type.Integer({ minimum: 0 }), bytes: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })

/** A policy decision: which rule (0-based; null when none matched), the level, the stages not written. */
export const DECISION_SCHEMA = Type.Object(
  { rule: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]), level: LEVEL_SCHEMA, omitStages: Type.Array(STAGE_SCHEMA), omitManagedFields: Type.Boolean() },
  { additionalProperties: false },
)
