/**
 * @module The order of a rotated log's files, as the apiserver's rotation (lumberjack) names them.
 */
import { basename } from 'node:path'

/** lumberjack backups (`audit-2026-11-22T21-06-58.206.log[.gz]`) oldest first, then the live file. */
export function rotationOrder(files: readonly string[]): string[] {
  const stamp = (f: string) => /-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3})\.[^/]*$/.exec(basename(f))?.[1]
  return [...files].sort((a, b) => {
    const sa = stamp(a)
    const sb = stamp(b)
    if (sa && sb) return sa.localeCompare(sb) || a.localeCompare(b)
    if (sa) return -1 // backups before the live file
    if (sb) return 1
    return a.localeCompare(b)
  })
}
