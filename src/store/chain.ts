/**
 * @module The tamper-evident chain of committed batches, kept as one JSON line per link in
 * `chain.jsonl`. Appending a line (with fsync) is the commit point of a batch: a segment file
 * that no link names was left by an interrupted write and is never read.
 *
 * Everything here is about links, not about how a store keeps its events, so every store
 * implementation shares it: the link format and its hash, the checks of a chain's own
 * structure (`chainProblems`), `verify` given a store's check of one batch's content
 * (`verifyChain`), the check every rewrite of stored data makes first (`checkBeforeRewrite`),
 * and the chain head recorded outside the store (`headProblem`).
 */
import { createHash } from 'node:crypto'
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs'
import { KubetrailError } from '../core/errors.js'
import { StoreTamperedError } from './errors.js'
import type { ChainHead, ChainLink, VerifyProblem, VerifyReport } from './types.js'

export const GENESIS = '0'.repeat(64)

/**
 * The link format written now. Version 2 hashes every field of the link (version 1, links
 * without `v`, left `firstAt`, `lastAt`, `segment` and `committedAt` out: a recent batch's
 * `lastAt` set to 2001 got it pruned, and verify passed). Version-1 links are still verified
 * with their own hash: stores written before keep verifying, without a rewrite of their chain.
 */
export const LINK_VERSION = 2

export function linkHash(l: ChainLink): string {
  if (l.v === undefined) return legacyLinkHash(l)
  if (l.v !== LINK_VERSION) throw new KubetrailError('KT_STORE_FORMAT', `chain link ${l.seq} has format version ${String(l.v)}, which this kubetrail does not know`, { hint: 'Use the kubetrail version that wrote the store, or a newer one.' })
  // every field but the hash itself, in one fixed order; a field added behind our back changes it too
  const fields = Object.entries(l)
    .filter(([k, v]) => k !== 'hash' && v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return createHash('sha256').update(`kubetrail chain link v${LINK_VERSION}\n`).update(JSON.stringify(fields)).digest('hex')
}

function legacyLinkHash(l: ChainLink): string {
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

export function nextLink(prev: ChainLink | undefined, fields: Omit<ChainLink, 'v' | 'seq' | 'prevHash' | 'hash' | 'committedAt'>): ChainLink {
  const link: ChainLink = { v: LINK_VERSION, ...fields, seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? GENESIS, hash: '', committedAt: new Date().toISOString() }
  link.hash = linkHash(link)
  return link
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

/** Batches no longer read: pruned, or merged into a compaction. */
export function retiredSeqs(links: readonly ChainLink[]): Set<number> {
  const gone = new Set<number>()
  for (const l of links) {
    if (l.kind === 'prune' && l.prunedSeq !== undefined) gone.add(l.prunedSeq)
    if (l.kind === 'compact') for (const s of l.replaces ?? []) gone.add(s)
  }
  return gone
}

/** Where each batch with leaves sits in the Merkle tree: its leaves follow those of the batches before it. */
export function leafLayout(links: readonly ChainLink[]): Array<{ seq: number; start: number; size: number }> {
  const out: Array<{ seq: number; start: number; size: number }> = []
  let start = 0
  for (const l of links) {
    if (l.kind !== 'batch' || l.leavesHash === undefined) continue
    out.push({ seq: l.seq, start, size: l.events })
    start += l.events
  }
  return out
}

/** The batches whose events a batch or compaction holds (a compaction's, through earlier compactions). */
export function originBatches(links: readonly ChainLink[], seq: number): ChainLink[] {
  const bySeq = new Map(links.map((l) => [l.seq, l]))
  const out: ChainLink[] = []
  const visit = (s: number, depth: number) => {
    const l = bySeq.get(s)
    if (!l || depth > links.length) return
    if (l.kind === 'batch') out.push(l)
    else if (l.kind === 'compact') for (const r of l.replaces ?? []) visit(r, depth + 1)
  }
  visit(seq, 0)
  return out
}

/** The links whose events are read: batches and compactions not pruned or compacted away. */
export function liveLinks(links: readonly ChainLink[]): ChainLink[] {
  const gone = retiredSeqs(links)
  return links.filter((l) => (l.kind === 'batch' || l.kind === 'compact') && !gone.has(l.seq))
}

export function headOf(links: readonly ChainLink[]): ChainHead | undefined {
  const last = links.at(-1)
  return last && { seq: last.seq, hash: last.hash }
}

/** The head as it is printed and logged, and as `verify --expect-head FILE` reads it back. */
export function formatHead(head: ChainHead): string {
  return `${head.hash} (link ${head.seq})`
}

/**
 * The last chain head written in `text` (a saved `verify` or `import` output, the collector's
 * log): a 64-digit hex hash, with its link number when it is followed by `(link N)`.
 */
export function parseHeadRecord(text: string): { hash: string; seq?: number } | undefined {
  let found: { hash: string; seq?: number } | undefined
  for (const m of text.matchAll(/\b([0-9a-f]{64})\b(?: \(link (\d+)\))?/g)) found = { hash: m[1]!, ...(m[2] ? { seq: Number(m[2]) } : {}) }
  return found
}

/**
 * Why a chain does not hold a head recorded outside the store, or undefined when it does. The
 * chain only grows (compaction and prune append links too), so a head recorded at any time stays
 * in it: a missing one means the tail was cut off, or the chain was rewritten from there.
 */
export function headProblem(links: readonly ChainLink[], expected: { hash: string; seq?: number }): VerifyProblem | undefined {
  const at = links.find((l) => l.hash === expected.hash)
  if (at && (expected.seq === undefined || at.seq === expected.seq)) return undefined
  const last = links.at(-1)
  if (expected.seq !== undefined) {
    if (!last || last.seq < expected.seq)
      return { seq: expected.seq, problem: `is missing: the recorded head ${expected.hash} is link ${expected.seq}, but the chain ends at link ${last?.seq ?? 0} (its tail was removed)` }
    return { seq: expected.seq, problem: `differs from the recorded head ${expected.hash} (the chain was rewritten from there)` }
  }
  return { seq: (last?.seq ?? 0) + 1, problem: `the recorded head ${expected.hash} is not in the chain (its tail was removed, or the chain was rewritten)` }
}

/**
 * What is wrong with the chain itself, link by link, without looking at any event: sequence,
 * linkage, each link's hash, the format version, and that compactions and prunes refer to
 * batches that existed, once, with the events and content they were committed with.
 */
export function chainProblems(links: readonly ChainLink[]): VerifyProblem[] {
  const problems: VerifyProblem[] = []
  const bySeq = new Map<number, ChainLink>()
  const retired = new Set<number>()
  let prev: ChainLink | undefined
  let versioned = false
  for (const l of links) {
    const problem = (p: string) => problems.push({ seq: l.seq, problem: p })
    const expectedSeq = (prev?.seq ?? 0) + 1
    if (l.seq !== expectedSeq) problem(`out of sequence: expected batch ${expectedSeq} here (a batch was removed, inserted or reordered)`)
    if (l.prevHash !== (prev?.hash ?? GENESIS)) problem('does not link to the batch before it (the chain was altered here)')
    if (l.v === undefined && versioned) problem('is in the old link format after a newer link (a downgrade leaves fields outside the hash)')
    versioned ||= l.v !== undefined
    try {
      if (linkHash(l) !== l.hash) problem('its own hash does not match its content (the chain entry was edited)')
    } catch (error) {
      problem((error as Error).message)
    }
    if (l.kind === 'compact') problems.push(...compactProblems(l, bySeq, retired))
    if (l.kind === 'prune') problems.push(...pruneProblems(l, bySeq, retired))
    bySeq.set(l.seq, l)
    prev = l
  }
  return problems
}

function compactProblems(l: ChainLink, earlier: ReadonlyMap<number, ChainLink>, retired: Set<number>): VerifyProblem[] {
  const replaced = (l.replaces ?? []).map((s) => earlier.get(s))
  const problems: string[] = []
  if (replaced.length === 0 || replaced.some((r) => !r || (r.kind !== 'batch' && r.kind !== 'compact') || retired.has(r.seq))) problems.push('names batches it cannot have compacted (the chain was altered here)')
  else {
    const before = replaced.reduce((n, r) => n + r!.events, 0)
    if (before !== l.events) problems.push(`holds ${l.events} events, but the batches it compacted had ${before}`)
    // the lineage: what the compaction read is what those batches were committed with
    if (l.v !== undefined && (l.replacedHashes?.length !== replaced.length || replaced.some((r, i) => r!.contentHash !== l.replacedHashes![i])))
      problems.push('did not compact the content its batches were committed with (their hashes differ from the ones it records)')
  }
  for (const s of l.replaces ?? []) retired.add(s)
  return problems.map((problem) => ({ seq: l.seq, problem }))
}

function pruneProblems(l: ChainLink, earlier: ReadonlyMap<number, ChainLink>, retired: Set<number>): VerifyProblem[] {
  const target = l.prunedSeq === undefined ? undefined : earlier.get(l.prunedSeq)
  const problems: string[] = []
  if (!target || (target.kind !== 'batch' && target.kind !== 'compact') || retired.has(target.seq)) problems.push('prunes a batch that was not there to prune (the chain was altered here)')
  else if (target.events !== l.events || target.contentHash !== l.contentHash) problems.push(`does not match batch ${target.seq}, which it prunes (its events or content hash differ)`)
  if (l.prunedSeq !== undefined) retired.add(l.prunedSeq)
  return problems.map((problem) => ({ seq: l.seq, problem }))
}

/**
 * A store's check of one batch's stored content against its link: a problem, or undefined when
 * it holds exactly what was committed. `retired` batches (compacted or pruned away) are checked
 * only while their data is still there: undefined when it is gone.
 */
export type ContentCheck = (link: ChainLink, retired: boolean) => Promise<string | undefined>

/** `kubetrail verify`: the chain's own problems, then every batch's content, in chain order. */
export async function verifyChain(links: readonly ChainLink[], content: ContentCheck, options: { expectHead?: { hash: string; seq?: number } } = {}): Promise<VerifyReport> {
  const problems = chainProblems(links)
  const gone = retiredSeqs(links)
  let events = 0
  for (const l of links) {
    if (l.kind !== 'batch' && l.kind !== 'compact') continue
    const retired = gone.has(l.seq)
    const problem = await content(l, retired)
    if (problem) problems.push({ seq: l.seq, problem: retired ? `(compacted or pruned away, its data still there) ${problem}` : problem })
    else if (!retired) events += l.events
  }
  const expected = options.expectHead && headProblem(links, options.expectHead)
  if (expected) problems.push(expected)
  problems.sort((a, b) => a.seq - b.seq)
  const head = headOf(links)
  return { ok: problems.length === 0, links: links.length, events, problems, head: head?.hash, headSeq: head?.seq }
}

/**
 * Every step that rewrites stored data (compaction, prune, a copy to another store) calls this
 * with the batches it is about to read: each link must be intact and each batch's content what
 * it was committed with, or nothing is rewritten (`KT_STORE_TAMPERED`). Rewriting a tampered
 * batch would give forged events a fresh, valid hash.
 */
export async function checkBeforeRewrite(operation: string, links: readonly ChainLink[], inputs: readonly ChainLink[], content: ContentCheck): Promise<void> {
  const wanted = new Set(inputs.map((l) => l.seq))
  const problems = chainProblems(links).filter((p) => wanted.has(p.seq))
  for (const l of inputs) {
    const problem = await content(l, false)
    if (problem) problems.push({ seq: l.seq, problem })
  }
  if (problems.length > 0) throw new StoreTamperedError(operation, problems)
}
