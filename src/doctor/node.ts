/**
 * @module A control-plane node's file system as the doctor reads it: every absolute path is
 * taken under `--root` (a mounted node disk or a copy), symlinks are reported rather than
 * followed out of the root, and nothing here throws for a missing or unreadable file.
 */
import { execFileSync } from 'node:child_process'
import { lstatSync, readFileSync, readdirSync, statfsSync, type Stats } from 'node:fs'
import { join, resolve } from 'node:path'

export class NodeFs {
  constructor(readonly root: string) {}

  /** The path on this machine for a path on the node. */
  at(nodePath: string): string {
    return this.root === '/' ? resolve(nodePath) : join(this.root, resolve('/', nodePath))
  }

  lstat(nodePath: string): Stats | undefined {
    try {
      return lstatSync(this.at(nodePath))
    } catch {
      return undefined
    }
  }

  /** The file's text, or why it could not be read. */
  read(nodePath: string): { text: string } | { error: string } {
    try {
      return { text: readFileSync(this.at(nodePath), 'utf8') }
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      return { error: e.code === 'ENOENT' ? 'does not exist' : e.code === 'EACCES' ? 'cannot be read (permission denied)' : e.code === 'EISDIR' ? 'is a directory' : e.message }
    }
  }

  list(nodeDir: string): string[] | undefined {
    try {
      return readdirSync(this.at(nodeDir)).sort()
    } catch {
      return undefined
    }
  }

  statfs(nodePath: string): { freeBytes: number; totalBytes: number; freeInodes: number; totalInodes: number } | undefined {
    try {
      const s = statfsSync(this.at(nodePath))
      return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize, freeInodes: s.ffree, totalInodes: s.files }
    } catch {
      return undefined
    }
  }

  /**
   * The ext2-style attributes of a file (`lsattr`, the FS_IOC_GETFLAGS ioctl): `i` immutable,
   * `a` append-only. Undefined with a reason when the file system does not support them.
   */
  attributes(nodePath: string): { flags: string } | { unsupported: string } {
    try {
      const out = execFileSync('lsattr', ['-d', this.at(nodePath)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      return { flags: out.trim().split(/\s+/)[0] ?? '' }
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? (error as Error).message)
      return { unsupported: stderr.trim().split('\n')[0]!.replace(/^lsattr: /, '') }
    }
  }
}

export function modeString(st: Stats): string {
  return `0${(st.mode & 0o7777).toString(8).padStart(3, '0')}`
}
