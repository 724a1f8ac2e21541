/**
 * @module Proofs handed to someone who has no access to the store: that an event is in the tree
 * a checkpoint signed (inclusion), and that a later checkpoint's tree extends an earlier one's
 * (consistency). A proof is a JSON document that carries its checkpoints and, for inclusion,
 * the events' exact stored text; `verify-proof` checks it with nothing but the document (or
 * another copy of the event) and the public key.
 */
import { KubetrailError } from '../core/errors.js'
import { eventLeafHash, HASH_BYTES, MerkleTree, verifyConsistency, verifyInclusion, type AuditStore, type LeafGroup, type MerkleStore } from '../store/index.js'
import { parseCheckpoint, signedBy, type SignedCheckpoint, type Verifier } from './checkpoint.js'

export const INCLUSION_KIND = 'kubetrail.io/inclusion-proof/v1'
export const CONSISTENCY_KIND = 'kubetrail.io/consistency-proof/v1'

export interface InclusionProof {
  kind: typeof INCLUSION_KIND
  /** The signed checkpoint the proof is against, as text. */
  checkpoint: string
  /** Each stored event with the auditID (one per stage): its text as stored, its leaf index, the audit path (base64, leaf to root). */
  events: Array<{ cluster: string; event: string; index: number; proof: string[] }>
}

export interface ConsistencyProof {
  kind: typeof CONSISTENCY_KIND
  old: string
  new: string
  proof: string[]
}

export type Proof = InclusionProof | ConsistencyProof

export class ProofError extends KubetrailError {
  constructor(message: string, hint?: string) {
    super('KT_PROOF_UNAVAILABLE', message, { hint: hint ?? 'Run `kubetrail verify` on the store: it names what does not match.' })
  }
}

/** The tree at the checkpoint's size, checked against it: a proof from a store that no longer matches would be worthless. */
async function treeAt(store: AuditStore & MerkleStore, cp: SignedCheckpoint): Promise<{ tree: MerkleTree; groups: LeafGroup[] }> {
  const groups = await store.merkleGroups()
  const tree = new MerkleTree(groups)
  if (cp.size > tree.size) throw new ProofError(`the checkpoint signs ${cp.size} events and the store's tree holds ${tree.size}`)
  if (!tree.root(cp.size).equals(cp.root)) throw new ProofError(`the store's tree does not match the checkpoint (root at ${cp.size} events differs)`)
  return { tree, groups }
}

/** Where a leaf is in the tree: each batch's leaves are sorted, so a binary search per batch. */
function indexOfLeaf(groups: readonly LeafGroup[], leaf: Buffer): number | undefined {
  for (const g of groups) {
    if (!g.leaves) continue
    let lo = 0
    let hi = g.size - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const c = g.leaves.compare(leaf, 0, HASH_BYTES, mid * HASH_BYTES, (mid + 1) * HASH_BYTES)
      if (c === 0) return g.start + mid
      if (c < 0) lo = mid + 1
      else hi = mid - 1
    }
  }
  return undefined
}

/** An inclusion proof of every stored stage of the request `auditId`, against the checkpoint `checkpointText`. */
export async function proveEvent(store: AuditStore & MerkleStore, auditId: string, checkpointText: string): Promise<InclusionProof> {
  const cp = parseCheckpoint(checkpointText)
  const found = await store.findEvents(auditId)
  if (found.length === 0) throw new ProofError(`no stored event has auditID ${auditId}`, 'Check the ID with `kubetrail query --where \'auditID == "…"\' -o json`.')
  const { tree, groups } = await treeAt(store, cp)
  const events = found.map(({ cluster, raw }) => {
    const index = indexOfLeaf(groups, eventLeafHash(cluster, raw))
    if (index === undefined) throw new ProofError(`event ${auditId} is not in the Merkle tree: it was stored before the tree existed, or it is not what was committed`)
    if (index >= cp.size) throw new ProofError(`event ${auditId} was stored after the checkpoint (leaf ${index}, the checkpoint signs ${cp.size} events)`, 'Use a later checkpoint (`kubetrail checkpoint export`), or wait for the next one.')
    return { cluster, event: raw, index, proof: tree.inclusionProof(index, cp.size).map((h) => h.toString('base64')) }
  })
  return { kind: INCLUSION_KIND, checkpoint: cp.text, events }
}

/** A consistency proof that the tree of `newText` extends the tree of `oldText`. */
export async function proveConsistency(store: AuditStore & MerkleStore, oldText: string, newText: string): Promise<ConsistencyProof> {
  const older = parseCheckpoint(oldText, 'the older checkpoint')
  const newer = parseCheckpoint(newText, 'the newer checkpoint')
  if (older.size > newer.size) throw new ProofError(`the older checkpoint signs ${older.size} events, more than the newer one (${newer.size})`, 'Give the older checkpoint first.')
  const { tree } = await treeAt(store, newer)
  if (!tree.root(older.size).equals(older.root)) throw new ProofError(`the store's tree does not match the older checkpoint (root at ${older.size} events differs): it is not an extension of it`)
  return { kind: CONSISTENCY_KIND, old: older.text, new: newer.text, proof: tree.consistencyProof(older.size, newer.size).map((h) => h.toString('base64')) }
}

export interface ProofCheck {
  ok: boolean
  kind: 'inclusion' | 'consistency'
  checkpoints: Array<{ size: number; root: string; time: string; cluster: string; signer: string }>
  events: Array<{ cluster: string; auditId: string; stage: string; index: number; ok: boolean }>
  problems: string[]
}

/** Parses a proof document, naming what is wrong with it. */
export function parseProof(text: string, where = 'the proof'): Proof {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (error) {
    throw new KubetrailError('KT_PROOF_INVALID', `${where} is not JSON: ${(error as Error).message}`, { hint: 'Give the file `kubetrail prove` wrote.' })
  }
  const d = (doc ?? {}) as { kind?: unknown; checkpoint?: unknown; events?: Array<{ cluster?: unknown; event?: unknown; index?: unknown; proof?: unknown } | null>; old?: unknown; new?: unknown; proof?: unknown }
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string')
  if (d.kind === INCLUSION_KIND && typeof d.checkpoint === 'string' && Array.isArray(d.events) && d.events.every((e) => typeof e?.cluster === 'string' && typeof e.event === 'string' && Number.isSafeInteger(e.index) && strings(e.proof)))
    return d as unknown as InclusionProof
  if (d.kind === CONSISTENCY_KIND && typeof d.old === 'string' && typeof d.new === 'string' && strings(d.proof)) return d as unknown as ConsistencyProof
  throw new KubetrailError('KT_PROOF_INVALID', `${where} is not a kubetrail proof (${INCLUSION_KIND} or ${CONSISTENCY_KIND} with all its fields)`, { hint: 'Give the file `kubetrail prove` wrote.' })
}

const hashes = (list: readonly string[]) => list.map((p) => Buffer.from(p, 'base64'))

function describeEvent(raw: string): { auditId: string; stage: string } {
  try {
    const e = JSON.parse(raw) as { auditID?: unknown; stage?: unknown }
    return { auditId: typeof e.auditID === 'string' ? e.auditID : '', stage: typeof e.stage === 'string' ? e.stage : '' }
  } catch {
    return { auditId: '', stage: '' }
  }
}

/**
 * Checks a proof offline: each checkpoint's signature by one of `verifiers`, then the audit
 * paths (each event's text hashed here) or the consistency path. `events`, when given,
 * replaces the events the proof carries (the auditor's own copy: one per stage, in order).
 */
export function checkProof(proof: Proof, verifiers: readonly Verifier[], events?: readonly string[]): ProofCheck {
  const problems: string[] = []
  const texts = proof.kind === INCLUSION_KIND ? [proof.checkpoint] : [proof.old, proof.new]
  const checkpoints: ProofCheck['checkpoints'] = []
  const parsed: SignedCheckpoint[] = []
  for (const [i, text] of texts.entries()) {
    const what = texts.length === 1 ? 'the checkpoint' : i === 0 ? 'the older checkpoint' : 'the newer checkpoint'
    let cp: SignedCheckpoint
    try {
      cp = parseCheckpoint(text, what)
    } catch (error) {
      problems.push((error as Error).message)
      continue
    }
    const by = verifiers.find((v) => signedBy(cp, v))
    if (!by) problems.push(`${what} is not signed by the given public key: forged, or signed by another key (${cp.signatures.map((s) => s.name).join(', ')})`)
    parsed.push(cp)
    checkpoints.push({ size: cp.size, root: cp.root.toString('base64'), time: cp.time, cluster: cp.cluster, signer: by?.name ?? '' })
  }
  const results: ProofCheck['events'] = []
  if (proof.kind === INCLUSION_KIND && parsed.length === 1) {
    const cp = parsed[0]!
    if (events && events.length !== proof.events.length) problems.push(`${events.length} event(s) given for a proof of ${proof.events.length}`)
    for (const [i, e] of proof.events.entries()) {
      const raw = events?.[i] ?? e.event
      const ok = verifyInclusion(eventLeafHash(e.cluster, raw), e.index, cp.size, hashes(e.proof), cp.root)
      const { auditId, stage } = describeEvent(raw)
      results.push({ cluster: e.cluster, auditId, stage, index: e.index, ok })
      if (!ok) problems.push(`event ${auditId || `#${i + 1}`}${stage ? ` (${stage})` : ''} at leaf ${e.index} is not in the tree the checkpoint signed: the event or the proof was changed`)
    }
    if (proof.events.length === 0) problems.push('the proof holds no event')
  }
  if (proof.kind === CONSISTENCY_KIND && parsed.length === 2) {
    const [older, newer] = parsed as [SignedCheckpoint, SignedCheckpoint]
    if (older.origin !== newer.origin) problems.push(`the checkpoints are of different stores (${older.origin}, ${newer.origin})`)
    else if (!verifyConsistency(older.size, newer.size, older.root, newer.root, hashes(proof.proof)))
      problems.push(`the tree of ${newer.size} events is not an extension of the tree of ${older.size}: events signed before were changed or removed`)
  }
  return { ok: problems.length === 0, kind: proof.kind === INCLUSION_KIND ? 'inclusion' : 'consistency', checkpoints, events: results, problems }
}
