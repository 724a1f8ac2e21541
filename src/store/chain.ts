/**
 * @module The tamper-evident chain of committed batches, kept as one JSON line per link in
 * `chain.jsonl`. Appending a line (with fsync) is the commit point of a batch: a segment file
 * that no link names was left by an interrupted write and is never read.
 */
import { createHash } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs'
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

/** Appends one link durably (0600, fsync). */
export function appendLink(path: string, link: ChainLink): void {
  const fd = openSync(path, 'a', 0o600)
  try {
    writeSync(fd, JSON.stringify(link) + '\n')
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
