/**
 * @module Where checkpoints are read back from for `verify --checkpoint`: a checkpoint file, a
 * log holding `checkpoint <base64>` lines (the collector's, a journal export), a directory of
 * them (a directory anchor), or a URL answering with one or more (a witness, a log collector).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { KubetrailError } from '../core/errors.js'
import { checkpointsIn } from './checkpoint.js'
import type { GivenCheckpoint } from './verify.js'

export async function loadCheckpoints(spec: string, cwd: string): Promise<GivenCheckpoint[]> {
  if (/^https?:\/\//.test(spec)) {
    const res = await fetch(spec, { signal: AbortSignal.timeout(15_000) }).catch((error: unknown) => {
      throw new KubetrailError('KT_CHECKPOINT_UNREADABLE', `cannot read checkpoints from ${spec}: ${(error as Error).message}`, { hint: 'Check the URL and that the witness or log collector is up.' })
    })
    if (!res.ok) throw new KubetrailError('KT_CHECKPOINT_UNREADABLE', `${spec} answered ${res.status}`, { hint: 'Check the URL.' })
    return named(spec, checkpointsIn(await res.text()))
  }
  const path = resolve(cwd, spec)
  if (!existsSync(path)) throw new KubetrailError('KT_FILE_NOT_FOUND', `checkpoint file or directory not found: ${spec}`, { hint: 'Give a checkpoint file, a directory of them, a log holding `checkpoint …` lines, or a URL.' })
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path).filter((f) => !f.startsWith('.')).sort()
    return files.flatMap((f) => named(join(path, f), checkpointsIn(readFileSync(join(path, f), 'utf8'))))
  }
  const found = checkpointsIn(readFileSync(path, 'utf8'))
  if (found.length === 0) throw new KubetrailError('KT_CHECKPOINT_INVALID', `${spec} holds no checkpoint`, { hint: 'A checkpoint is a signed note (docs/integrity.md); a log holds them as `checkpoint <base64>` lines.' })
  return named(path, found)
}

function named(source: string, texts: string[]): GivenCheckpoint[] {
  return texts.map((text, i) => ({ source: texts.length > 1 ? `${source} #${i + 1}` : source, text }))
}
