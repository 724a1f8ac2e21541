/**
 * @module The tamper-evident chain of committed batches, kept as one JSON line per link in
 * `chain.jsonl`. Appending a line (with fsync) is the commit point of a batch: a segment file
 * that no link names was left by an interrupted write and is never read.
 */
import { createHash } from 'node:crypto'
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs'
import { KubetrailError } from '../core/errors.js'
import type { ChainLink } from './types.js'

export const GENESIS = '0'.repeat(64)

export function linkHash(l: Pick<ChainLink, 'seq' | 'kind' | 'contentHash' | 'prevHash' | 'events' | 'replaces'>): string {
  const replaces = l.replaces ? `\n${l.replaces.join(',')}` : ''
  return createHash('sha256').update(`${l.seq}\n${l.kind}\n${l.events}\n${l.contentHash}\n${l.prevHash}${replaces}`).digest('hex')
}

export function readChain(path: string): ChainLink[] {
  if (!existsSync(path)) return []
  const text = readFileSync(path, 'utf8')
  const links: ChainLink[] = []
  const lines = text.split('\n')
  lines.forEach((line, i) => {
    if (line === '') return
    try {
      links.push(JSON.parse(line) as ChainLink)
    } catch {
      // an unfinished last line is an interrupted commit: that batch never happened
      if (i === lines.length - 1) return
      throw new KubetrailError('KT_STORE_CORRUPT', `${path}:${i + 1}: unreadable chain link`, { hint: 'Run `kubetrail verify` to see which batches are affected.' })
    }
  })
  return links
}

export function nextLink(prev: ChainLink | undefined, fields: Omit<ChainLink, 'seq' | 'prevHash' | 'hash' | 'committedAt'>): ChainLink {
  const seq = (prev?.seq ?? 0) + 1
  const prevHash = prev?.hash ?? GENESIS
  const partial = { ...fields, seq, prevHash }
  return { ...partial, hash: linkHash(partial), committedAt: new Date().toISOString() }
}

/**
 * Appends one link durably (0600, fsync). On a failed or short write (disk full) the file is cut
 * back to where it was: a half-written link must not precede the next one.
 */
export function appendLink(path: string, link: ChainLink): void {
  const data = Buffer.from(JSON.stringify(link) + '\n')
  const fd = openSync(path, 'a', 0o600)
  const before = fstatSync(fd).size
  try {
    for (let done = 0; done < data.length; ) {
      const n = writeSync(fd, data, done, data.length - done)
      if (n === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      done += n
    }
    fsyncSync(fd)
  } catch (error) {
    try {
      ftruncateSync(fd, before)
    } catch {
      // the unfinished last line is ignored by readChain
    }
    throw error
  } finally {
    closeSync(fd)
  }
}
