/**
 * @module Compiled runtime checks for the audit objects, with errors that name the field.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { EventListSchema, EventSchema, type AuditEvent, type EventList } from './audit-schema.js'

// Compiled on first use: compiling at import time cost every command ~0.1 s of start-up.
let eventCheckCache: TypeCheck<typeof EventSchema> | undefined
let eventListCheckCache: TypeCheck<typeof EventListSchema> | undefined
const eventCheck = () => (eventCheckCache ??= TypeCompiler.Compile(EventSchema))
const eventListCheck = () => (eventListCheckCache ??= TypeCompiler.Compile(EventListSchema))

/** A field that failed its check, as `path: reason` (path in dotted form, e.g. `user.groups[0]`). */
export interface FieldProblem {
  field: string
  message: string
}

function toDotted(pointer: string): string {
  if (pointer === '') return '(root)'
  return pointer
    .slice(1)
    .split('/')
    .map((seg, i) => (/^\d+$/.test(seg) ? `[${seg}]` : i === 0 ? seg : `.${seg}`))
    .join('')
    .replace(/\.\[/g, '[')
}

function firstProblem(errors: Iterable<{ path: string; message: string }>): FieldProblem | undefined {
  for (const e of errors) return { field: toDotted(e.path), message: e.message }
  return undefined
}

export function isAuditEvent(value: unknown): value is AuditEvent {
  return eventCheck().Check(value)
}

/** Returns undefined when `value` is a valid Event, else the first problem found. */
export function checkAuditEvent(value: unknown): FieldProblem | undefined {
  if (eventCheck().Check(value)) return undefined
  return firstProblem(eventCheck().Errors(value))
}

export function checkEventList(value: unknown): FieldProblem | undefined {
  if (eventListCheck().Check(value)) return undefined
  return firstProblem(eventListCheck().Errors(value))
}

export type { AuditEvent, EventList }
