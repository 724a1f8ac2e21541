/**
 * @module Durability helpers shared by the store and the collector's WAL.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs'

/** fsync a file or a directory (a rename or a new file is durable once its directory is). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
