/**
 * @module The data directory: where it is, created private (0700; files 0600), and the writer
 * lock that lets one process write while any number read.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync, chmodSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { KubetrailError } from '../core/errors.js'

export const DEFAULT_DATA_DIR = './kubetrail-data'

export function resolveDataDir(flag: string | undefined, cwd: string): string {
  return resolve(cwd, flag ?? process.env['KUBETRAIL_DATA_DIR'] ?? DEFAULT_DATA_DIR)
}

export function ensureDataDir(dir: string): void {
  mkdirSync(join(dir, 'segments'), { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  chmodSync(join(dir, 'segments'), 0o700)
}

export function requireDataDir(dir: string): void {
  if (!existsSync(join(dir, 'chain.jsonl')) && !existsSync(join(dir, 'segments')))
    throw new KubetrailError('KT_STORE_NOT_FOUND', `no kubetrail store in ${dir}`, { hint: 'Import logs first (`kubetrail import FILE`), or point --data-dir / KUBETRAIL_DATA_DIR at an existing store.' })
  if (!statSync(dir).isDirectory()) throw new KubetrailError('KT_STORE_NOT_FOUND', `${dir} is not a directory`)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class StoreBusyError extends KubetrailError {
  constructor(dir: string, pid: number) {
    super('KT_STORE_BUSY', `another kubetrail process (pid ${pid}) is writing to ${dir}`, {
      hint: 'Only one process writes to a store at a time; queries work meanwhile. Wait for it to finish, or stop it.',
    })
  }
}

/** Takes the writer lock (a pid file created exclusively); a lock whose process is gone is taken over. */
export function acquireWriterLock(dir: string): () => void {
  const path = join(dir, 'writer.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => {
        try {
          if (readFileSync(path, 'utf8') === String(process.pid)) unlinkSync(path)
        } catch {
          // already gone
        }
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const pid = Number(readFileSync(path, 'utf8'))
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new StoreBusyError(dir, pid)
      unlinkSync(path) // stale: its process died (e.g. SIGKILL)
    }
  }
  throw new KubetrailError('KT_STORE_BUSY', `could not lock ${dir} for writing`)
}
