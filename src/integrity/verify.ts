/**
 * @module Checking a store against signed checkpoints: the events against the Merkle leaves
 * committed with them, the tree against every checkpoint (its root at the checkpoint's size,
 * its chain link, its origin), each checkpoint's signature. A store rebuilt from edited events,
 * by kubetrail itself or by someone who recomputed every hash it keeps, has another tree: the
 * checkpoints published outside the store name it.
 */
import { leafLayout, liveLinks, MerkleTree, originBatches, type AuditStore, type ChainLink, type LeafGroup, type MerkleStore } from '../store/index.js'
import { HASH_BYTES } from '../store/index.js'
import { originOf, parseCheckpoint, signedBy, type SignedCheckpoint, type Verifier } from './checkpoint.js'

/** A checkpoint to check, with where it came from (a file, a URL, the store's own). */
export interface GivenCheckpoint {
  source: string
  text: string
}

export interface CheckpointResult {
  source: string
  size: number
  time: string
  /** The key that signed it, or why its signature was not checked. */
  signer: string
  ok: boolean
  problem?: string
}

export interface IntegrityProblem {
  /** The chain link (batch) it concerns, when known. */
  seq?: number
  /** The checkpoint it contradicts, when it is one. */
  checkpoint?: string
  problem: string
}

export interface IntegrityReport {
  ok: boolean
  /** Events in the Merkle tree (batches committed before it existed are outside it). */
  treeSize: number
  /** The tree's root (hex), '' when it could not be computed. */
  root: string
  checkpoints: CheckpointResult[]
  problems: IntegrityProblem[]
}

export interface IntegrityOptions {
  /** Checkpoints from outside the store: each must be signed by one of `verifiers`. */
  given?: readonly GivenCheckpoint[]
  /** Keys given by the user: a given checkpoint signed by none of them is refused. */
  verifiers?: readonly Verifier[]
  /** Keys known locally (the signing key's public half): the store's own checkpoints are checked with them when they match. */
  localVerifiers?: readonly Verifier[]
  /** Skip recomputing the leaves from the events (proof commands, which check one event). */
  skipEvents?: boolean
}

export async function verifyIntegrity(store: AuditStore & MerkleStore, options: IntegrityOptions = {}): Promise<IntegrityReport> {
  const links = await store.links()
  const groups = await store.merkleGroups()
  const problems: IntegrityProblem[] = []
  let tree: MerkleTree | undefined
  try {
    tree = new MerkleTree(groups)
  } catch (error) {
    problems.push({ problem: (error as Error).message })
  }
  if (!options.skipEvents) problems.push(...(await eventProblems(store, links, groups)))
  const saved = (await store.savedCheckpoints()).map((text, i) => ({ source: `store checkpoint ${i + 1}`, text, own: true }))
  const given = (options.given ?? []).map((g) => ({ ...g, own: false }))
  const checked: Array<{ result: CheckpointResult; parsed?: SignedCheckpoint; rootOk?: boolean }> = []
  for (const c of [...saved, ...given]) {
    const one = checkOne(c, links, tree, options)
    checked.push(one)
    if (one.result.problem) problems.push({ checkpoint: c.source, problem: one.result.problem })
  }
  const located = locateChange(checked, links, tree)
  if (located) problems.push(located)
  const root = tree ? safe(() => tree.root().toString('hex')) : ''
  return { ok: problems.length === 0, treeSize: tree?.size ?? 0, root: root ?? '', checkpoints: checked.map((c) => c.result), problems }
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f()
  } catch {
    return undefined
  }
}

/** One checkpoint against the store: signature, origin, chain link, size and root. */
function checkOne(
  c: { source: string; text: string; own: boolean },
  links: readonly ChainLink[],
  tree: MerkleTree | undefined,
  options: IntegrityOptions,
): { result: CheckpointResult; parsed?: SignedCheckpoint; rootOk?: boolean } {
  let cp: SignedCheckpoint
  try {
    cp = parseCheckpoint(c.text, c.source)
  } catch (error) {
    return { result: { source: c.source, size: 0, time: '', signer: '', ok: false, problem: (error as Error).message } }
  }
  const fail = (signer: string, problem: string, rootOk?: boolean) => ({ result: { source: c.source, size: cp.size, time: cp.time, signer, ok: false, problem }, parsed: cp, rootOk })
  const signature = signatureOf(cp, c.own, options)
  if (signature.problem) return fail(signature.signer, signature.problem)
  const first = links[0]
  if (!first) return fail(signature.signer, `signs ${cp.size} events, and the store is empty`)
  if (cp.origin !== originOf(first.hash)) return fail(signature.signer, `was signed for another store (origin ${cp.origin}, this store is ${originOf(first.hash)}): the store was rebuilt or replaced since`)
  // the chain link and the tree are both reported: a rebuilt chain says little about which events changed
  const link = links.find((l) => l.seq === cp.chainSeq)
  const chainProblem = !link
    ? `was taken at chain link ${cp.chainSeq}; the chain ends at link ${links.at(-1)!.seq} (its tail was cut off)`
    : link.hash !== cp.chainHash
      ? `was taken at chain link ${cp.chainSeq} with hash ${cp.chainHash.slice(0, 16)}…; the store's link ${cp.chainSeq} is ${link.hash.slice(0, 16)}… (the chain was rewritten)`
      : undefined
  const withChain = (problem: string | undefined) => [chainProblem, problem].filter(Boolean).join('; ')
  if (!tree) return fail(signature.signer, withChain("cannot be checked: the store's Merkle tree is incomplete"))
  if (cp.size > tree.size) return fail(signature.signer, withChain(`signs ${cp.size} events; the store's tree holds ${tree.size} (events were removed or cut off)`))
  const root = safe(() => tree.root(cp.size))
  if (!root) return fail(signature.signer, withChain(`cannot be checked: the tree lacks hashes below size ${cp.size}`))
  if (!root.equals(cp.root)) return fail(signature.signer, withChain(`signs root ${cp.root.toString('base64')} for the first ${cp.size} events; the store's tree gives ${root.toString('base64')} (stored events were changed, removed or reordered)`), false)
  if (chainProblem) return fail(signature.signer, chainProblem, true)
  return { result: { source: c.source, size: cp.size, time: cp.time, signer: signature.signer, ok: true }, parsed: cp, rootOk: true }
}

function signatureOf(cp: SignedCheckpoint, own: boolean, options: IntegrityOptions): { signer: string; problem?: string } {
  const given = options.verifiers ?? []
  const local = options.localVerifiers ?? []
  const byGiven = given.find((v) => signedBy(cp, v))
  if (byGiven) return { signer: byGiven.name }
  const byLocal = local.find((v) => signedBy(cp, v))
  if (byLocal && (own || given.length === 0)) return { signer: byLocal.name }
  const names = cp.signatures.map((s) => `${s.name} (key ${s.keyId.toString('hex')})`).join(', ')
  // a key that matches by name and id but not by signature: the text was changed, or forged
  const claimed = [...given, ...local].find((v) => cp.signatures.some((s) => s.name === v.name && s.keyId.equals(v.keyId)))
  if (claimed) return { signer: names, problem: `its signature by ${claimed.name} is not valid: the checkpoint was altered or forged` }
  if (!own || given.length > 0) return { signer: names, problem: `is not signed by ${given.length > 0 ? 'the given public key' : 'a known key'} (signed by ${names}): forged, or pass its key with --public-key` }
  return { signer: `${names}, not checked (no public key for it)` }
}

/** The narrowest range of events the failing and passing checkpoints leave for the change, and its batches. */
function locateChange(checked: ReadonlyArray<{ parsed?: SignedCheckpoint; rootOk?: boolean }>, links: readonly ChainLink[], tree: MerkleTree | undefined): IntegrityProblem | undefined {
  if (!tree) return undefined
  const failing = checked.filter((c) => c.rootOk === false).map((c) => c.parsed!.size)
  if (failing.length === 0) return undefined
  const upTo = Math.min(...failing)
  const from = Math.max(0, ...checked.filter((c) => c.rootOk === true && c.parsed!.size < upTo).map((c) => c.parsed!.size))
  const batches = leafLayout(links).filter((g) => g.start < upTo && g.start + g.size > from)
  const where = batches.length === 1 ? `batch ${batches[0]!.seq}` : batches.length > 0 ? `batches ${batches[0]!.seq}–${batches.at(-1)!.seq}` : 'no batch the store still has'
  return { seq: batches[0]?.seq, problem: `the change lies in events ${from}..${upTo - 1} of the tree (${where}): the checkpoints up to ${from} events still match, the first one after does not` }
}

/**
 * Each live batch or compaction's events, hashed again, against the leaves committed with them:
 * an event edited in place (and every hash the store keeps recomputed but the leaves) shows here.
 */
async function eventProblems(store: AuditStore & MerkleStore, links: readonly ChainLink[], groups: readonly LeafGroup[]): Promise<IntegrityProblem[]> {
  const leavesOf = new Map(groups.map((g) => [g.seq, g.leaves]))
  const problems: IntegrityProblem[] = []
  for (const link of liveLinks(links)) {
    const origin = originBatches(links, link.seq)
    const inTree = origin.filter((b) => b.leavesHash !== undefined)
    if (inTree.length === 0) continue
    const parts = inTree.map((b) => leavesOf.get(b.seq))
    if (parts.some((p) => p === undefined)) {
      problems.push({ seq: link.seq, problem: 'its Merkle leaves are missing' })
      continue
    }
    const expected = new Map<string, number>()
    for (const p of parts) for (let i = 0; i < p!.length; i += HASH_BYTES) bump(expected, p!.toString('hex', i, i + HASH_BYTES), 1)
    const recomputed = await store.recomputeLeaves(link)
    const strangers: string[] = []
    for (const e of recomputed) {
      const key = e.leaf.toString('hex')
      if ((expected.get(key) ?? 0) > 0) bump(expected, key, -1)
      else strangers.push(`${e.auditId} (${e.stage})`)
    }
    // batches from before the tree may share the segment (a compaction): their events are not in it
    const whole = inTree.length === origin.length
    const missing = [...expected.values()].reduce((n, v) => n + v, 0)
    if ((whole && strangers.length > 0) || missing > 0) {
      const named = whole && strangers.length > 0 ? `event ${strangers[0]}${strangers.length > 1 ? ` and ${strangers.length - 1} more` : ''} ${strangers.length > 1 ? 'are' : 'is'} not what was committed` : ''
      const gone = missing > 0 ? `${missing} committed event(s) no longer there` : ''
      problems.push({ seq: link.seq, problem: [named, gone].filter(Boolean).join('; ') + ' (the events differ from the Merkle leaves committed with them)' })
    }
  }
  return problems
}

function bump(m: Map<string, number>, key: string, by: number): void {
  m.set(key, (m.get(key) ?? 0) + by)
}
