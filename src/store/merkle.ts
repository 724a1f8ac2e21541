/**
 * @module The Merkle tree over stored events: RFC 9162 (Certificate Transparency v2) hashing,
 * inclusion and consistency proofs and their verification. Nothing here knows how a store keeps
 * its events: a store hands over its leaves in tree order as groups (one per committed batch),
 * each either the leaf hashes themselves or, for a batch that retention removed, the hashes of
 * the subtrees that cover it, so proofs stay valid for what remains.
 *
 * RFC 9162 §2.1.1: MTH({}) = SHA-256(), a leaf's hash is SHA-256(0x00 || data), a node's
 * SHA-256(0x01 || left || right), and a tree of n > 1 leaves splits at the largest power of two
 * below n. The leaf data of an event is `cluster \n event-JSON` (`eventLeafHash`), the event's
 * text exactly as stored.
 */
import { hash } from 'node:crypto'
import { KubetrailError } from '../core/errors.js'

export const HASH_BYTES = 32

const LEAF_PREFIX = Buffer.from([0])

export const EMPTY_ROOT: Buffer = hash('sha256', Buffer.alloc(0), 'buffer') as unknown as Buffer

function sha256(data: Buffer): Buffer {
  return hash('sha256', data, 'buffer') as unknown as Buffer
}

/** RFC 9162 leaf hash of arbitrary leaf data. */
export function leafHash(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  return sha256(Buffer.concat([LEAF_PREFIX, bytes]))
}

/** The leaf hash of one stored event: its cluster and its JSON text as stored (UTF-8). */
export function eventLeafHash(cluster: string, eventJson: string | Buffer): Buffer {
  const event = typeof eventJson === 'string' ? Buffer.from(eventJson, 'utf8') : eventJson
  const cl = Buffer.from(cluster, 'utf8')
  const data = Buffer.allocUnsafe(1 + cl.length + 1 + event.length)
  data[0] = 0
  cl.copy(data, 1)
  data[1 + cl.length] = 10
  event.copy(data, 2 + cl.length)
  return sha256(data)
}

const nodeBuffer = Buffer.allocUnsafe(1 + 2 * HASH_BYTES)
nodeBuffer[0] = 1

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  left.copy(nodeBuffer, 1)
  right.copy(nodeBuffer, 1 + HASH_BYTES)
  return sha256(nodeBuffer)
}

/** The largest power of two smaller than n (n > 1). */
export function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** One committed batch's part of the tree: its leaf hashes, or (pruned) the subtrees covering it. */
export interface LeafGroup {
  /** The chain link that committed the batch. */
  seq: number
  /** Index of its first leaf in the tree. */
  start: number
  size: number
  /** size × 32 bytes: the leaf hashes in tree order. */
  leaves?: Buffer
  /** When the batch's events were pruned: the maximal aligned subtrees covering [start, start + size). */
  subtrees?: Subtree[]
}

export interface Subtree {
  start: number
  size: number
  hash: Buffer
}

/**
 * The maximal aligned power-of-two blocks covering [start, end), each a node of every tree of
 * size ≥ end (RFC 9162 trees put aligned blocks at aligned positions). What a pruned batch
 * leaves behind: O(log n) hashes instead of its leaves.
 */
export function alignedBlocks(start: number, end: number): Array<{ start: number; size: number }> {
  const out: Array<{ start: number; size: number }> = []
  for (let at = start; at < end; ) {
    let size = 1
    while (at % (size * 2) === 0 && at + size * 2 <= end) size *= 2
    out.push({ start: at, size })
    at += size
  }
  return out
}

/** The subtree hashes covering a batch's leaves placed at `start` of the tree (what prune keeps of it). */
export function subtreesOf(start: number, leaves: Buffer): Subtree[] {
  const size = leaves.length / HASH_BYTES
  return alignedBlocks(start, start + size).map((b) => ({ start: b.start, size: b.size, hash: perfectHash(leaves, b.start - start, b.size) }))
}

export class MissingNodeError extends KubetrailError {
  constructor(start: number, size: number) {
    super('KT_TREE_INCOMPLETE', `the Merkle tree lacks the hashes of leaves ${start}..${start + size - 1} (pruned without their subtree hashes)`, {
      hint: 'Run `kubetrail verify`: the store lost part of its tree.',
    })
  }
}

/**
 * Random access to a tree's nodes over leaf groups in order (contiguous from 0). Perfect
 * subtrees inside one group's leaves are hashed bottom-up; a range inside a pruned group is
 * looked up among its subtrees.
 */
export class MerkleTree {
  readonly size: number
  private readonly groups: readonly LeafGroup[]
  private readonly stored = new Map<string, Buffer>()

  constructor(groups: readonly LeafGroup[]) {
    let at = 0
    for (const g of groups) {
      if (g.start !== at) throw new KubetrailError('KT_TREE_INCOMPLETE', `leaf group of batch ${g.seq} starts at ${g.start}, expected ${at}`)
      if (g.leaves && g.leaves.length !== g.size * HASH_BYTES) throw new KubetrailError('KT_TREE_INCOMPLETE', `batch ${g.seq} has ${g.leaves.length / HASH_BYTES} leaf hashes for ${g.size} events`)
      for (const s of g.subtrees ?? []) this.stored.set(`${s.start}:${s.size}`, s.hash)
      at += g.size
    }
    this.groups = groups
    this.size = at
  }

  /** The leaf hash at `index`, undefined when its batch was pruned. */
  leaf(index: number): Buffer | undefined {
    const g = this.groupAt(index)
    return g.leaves?.subarray((index - g.start) * HASH_BYTES, (index - g.start + 1) * HASH_BYTES)
  }

  private groupAt(index: number): LeafGroup {
    let lo = 0
    let hi = this.groups.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.groups[mid]!.start <= index) lo = mid
      else hi = mid - 1
    }
    return this.groups[lo]!
  }

  /** MTH of leaves [start, start + size). */
  hash(start: number, size: number): Buffer {
    if (size === 0) return EMPTY_ROOT
    const stored = this.stored.get(`${start}:${size}`)
    if (stored) return stored
    const g = this.groupAt(start)
    if (g.leaves && start + size <= g.start + g.size) return rangeHash(g.leaves, start - g.start, size)
    if (size === 1) throw new MissingNodeError(start, size)
    const k = splitPoint(size)
    return nodeHash(this.hash(start, k), this.hash(start + k, size - k))
  }

  /** The root of the tree's first `size` leaves (its whole size by default). */
  root(size = this.size): Buffer {
    return this.hash(0, size)
  }

  /** RFC 9162 §2.1.3.1 PATH(m, D[n]): the audit path of leaf m in the tree of its first n leaves, leaf to root. */
  inclusionProof(m: number, n = this.size): Buffer[] {
    if (m < 0 || m >= n || n > this.size) throw new KubetrailError('KT_USAGE', `no leaf ${m} in a tree of ${n}`)
    let start = 0
    let size = n
    let index = m
    const siblings: Buffer[] = []
    while (size > 1) {
      const k = splitPoint(size)
      if (index < k) {
        siblings.push(this.hash(start + k, size - k))
        size = k
      } else {
        siblings.push(this.hash(start, k))
        start += k
        index -= k
        size -= k
      }
    }
    return siblings.reverse()
  }

  /** RFC 9162 §2.1.4.1 PROOF(m, D[n]): that the tree of the first m leaves is a prefix of the tree of n. */
  consistencyProof(m: number, n = this.size): Buffer[] {
    if (m < 0 || m > n || n > this.size) throw new KubetrailError('KT_USAGE', `no consistency proof from ${m} to ${n}`)
    if (m === 0 || m === n) return []
    // SUBPROOF(m, D[start:start+size], b), written as a loop: the nodes come out root-side first
    let start = 0
    let size = n
    let sub = m
    let whole = true
    const out: Buffer[] = []
    while (sub !== size) {
      const k = splitPoint(size)
      if (sub <= k) {
        out.push(this.hash(start + k, size - k))
        size = k
      } else {
        out.push(this.hash(start, k))
        start += k
        sub -= k
        size -= k
        whole = false
      }
    }
    if (!whole) out.push(this.hash(start, size))
    return out.reverse()
  }
}

/** MTH of `size` leaf hashes of `leaves` from leaf `from`, bottom-up over the perfect parts. */
function rangeHash(leaves: Buffer, from: number, size: number): Buffer {
  if (size === 1) return leaves.subarray(from * HASH_BYTES, (from + 1) * HASH_BYTES)
  // the left part of an RFC 9162 split is always a perfect subtree
  const k = splitPoint(size)
  return nodeHash(perfectHash(leaves, from, k), rangeHash(leaves, from + k, size - k))
}

/** MTH of a perfect subtree (size a power of two) of consecutive leaf hashes, level by level. */
function perfectHash(leaves: Buffer, from: number, size: number): Buffer {
  if (size === 1) return leaves.subarray(from * HASH_BYTES, (from + 1) * HASH_BYTES)
  let level = Buffer.allocUnsafe((size / 2) * HASH_BYTES)
  const pair = Buffer.allocUnsafe(1 + 2 * HASH_BYTES)
  pair[0] = 1
  for (let i = 0; i < size / 2; i++) {
    leaves.copy(pair, 1, (from + 2 * i) * HASH_BYTES, (from + 2 * i + 2) * HASH_BYTES)
    sha256(pair).copy(level, i * HASH_BYTES)
  }
  for (let n = size / 2; n > 1; n /= 2) {
    const next = Buffer.allocUnsafe((n / 2) * HASH_BYTES)
    for (let i = 0; i < n / 2; i++) {
      level.copy(pair, 1, 2 * i * HASH_BYTES, (2 * i + 2) * HASH_BYTES)
      sha256(pair).copy(next, i * HASH_BYTES)
    }
    level = next
  }
  return level
}

/**
 * Roots at several sizes in one pass over the leaves (a binary counter of perfect subtrees: the
 * root at size m folds them from the right), as `verify` needs for every checkpoint it is given.
 */
export class MerkleFrontier {
  private readonly stack: Array<{ size: number; hash: Buffer }> = []
  size = 0

  /** Appends a subtree of `size` leaves (a power of two, at an aligned position: one leaf, or a pruned batch's block). */
  push(hash: Buffer, size = 1): void {
    if (this.size % size !== 0) throw new KubetrailError('KT_TREE_INCOMPLETE', `a subtree of ${size} leaves cannot start at leaf ${this.size}`)
    let node = { size, hash }
    while (this.stack.length > 0 && this.stack.at(-1)!.size === node.size) {
      const left = this.stack.pop()!
      node = { size: left.size * 2, hash: nodeHash(left.hash, node.hash) }
    }
    this.stack.push(node)
    this.size += size
  }

  root(): Buffer {
    if (this.stack.length === 0) return EMPTY_ROOT
    let h = this.stack.at(-1)!.hash
    for (let i = this.stack.length - 2; i >= 0; i--) h = nodeHash(this.stack[i]!.hash, h)
    return h
  }
}

/** RFC 9162 §2.1.3.2: whether `proof` shows leaf `m` (its hash) in the tree of size n with `root`. */
export function verifyInclusion(leaf: Buffer, m: number, n: number, proof: readonly Buffer[], root: Buffer): boolean {
  if (m < 0 || m >= n) return false
  let fn = m
  let sn = n - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if ((fn & 1) === 1 || fn === sn) {
      r = nodeHash(p, r)
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && r.equals(root)
}

/** RFC 9162 §2.1.4.2: whether `proof` shows the tree (m, first) is a prefix of the tree (n, second). */
export function verifyConsistency(m: number, n: number, first: Buffer, second: Buffer, proof: readonly Buffer[]): boolean {
  if (m < 0 || m > n) return false
  if (m === n) return proof.length === 0 && first.equals(second)
  if (m === 0) return proof.length === 0 && first.equals(EMPTY_ROOT)
  if (proof.length === 0) return false
  const path = [...proof]
  // m a power of two: the first tree is itself a node of the second, and not in the proof
  if ((m & (m - 1)) === 0) path.unshift(first)
  let fn = m - 1
  let sn = n - 1
  while ((fn & 1) === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0]!
  let sr = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if ((fn & 1) === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && fr.equals(first) && sr.equals(second)
}
