/**
 * @module Annotated starting policies (`policy init --preset NAME`), from the source documents:
 * the audit guide's minimal, comprehensive and compliance policies and the incident runbook's
 * low-write policy. Each passes `policy lint` with no errors; tests keep it that way.
 */
import { compliance } from './compliance.js'
import { comprehensive } from './comprehensive.js'
import { lowWrite } from './low-write.js'
import { minimal } from './minimal.js'

export interface Preset {
  name: string
  summary: string
  yaml: string
}

export const PRESETS: readonly Preset[] = [
  { name: 'comprehensive', summary: 'security-focused default: everything at Metadata, bodies for workload and RBAC writes, no secret values', yaml: comprehensive },
  { name: 'low-write', summary: 'every change attributable at minimal volume: writes at Metadata, reads dropped', yaml: lowWrite },
  { name: 'compliance', summary: 'SOC 2 / PCI-DSS: all writes with full bodies, everything else at Metadata', yaml: compliance },
  { name: 'minimal', summary: 'only Secret access and exec/attach/port-forward', yaml: minimal },
]

export function presetNames(): string[] {
  return PRESETS.map((p) => p.name)
}
