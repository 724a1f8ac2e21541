/**
 * The Merkle tree against a plain reference implementation: RFC 9162's definitions written out
 * recursively over leaf data, with createHash and nothing shared with merkle.ts.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { alignedBlocks, EMPTY_ROOT, eventLeafHash, leafHash, MerkleFrontier, MerkleTree, verifyConsistency, verifyInclusion, type LeafGroup } from './merkle.js'

const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest()
const k = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1)
const refLeaf = (d: Buffer) => sha(Buffer.from([0]), d)
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha()
  if (d.length === 1) return refLeaf(d[0]!)
  return sha(Buffer.from([1]), mth(d.slice(0, k(d.length))), mth(d.slice(k(d.length))))
}
function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return []
  const s = k(d.length)
  return m < s ? [...path(m, d.slice(0, s)), mth(d.slice(s))] : [...path(m - s, d.slice(s)), mth(d.slice(0, s))]
}
function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)]
  const s = k(d.length)
  return m <= s ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))] : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))]
}
const proofRef = (m: number, d: Buffer[]) => (m === 0 || m === d.length ? [] : subproof(m, d, true))

const data = (n: number, seed = 0) => Array.from({ length: n }, (_, i) => Buffer.from(`event ${seed}:${i}`))
const tree = (d: Buffer[]) => new MerkleTree([{ seq: 1, start: 0, size: d.length, leaves: Buffer.concat(d.map(refLeaf)) }])
/** Sizes that matter: 0, 1, powers of two and their neighbours, and random ones. */
const size = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257), fc.integer({ min: 0, max: 300 }))

describe('Merkle tree (RFC 9162) against the reference', () => {
  it('hashes leaves and nodes as RFC 9162 says, and an event as cluster \\n JSON', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(leafHash('x').equals(refLeaf(Buffer.from('x')))).toBe(true)
    expect(eventLeafHash('prod', '{"a":1}').equals(refLeaf(Buffer.from('prod\n{"a":1}')))).toBe(true)
  })

  it('property: roots at every size equal the reference, from the tree and from the frontier', () => {
    fc.assert(
      fc.property(size, (n) => {
        const d = data(n)
        const t = tree(d)
        const f = new MerkleFrontier()
        for (let m = 0; m <= n; m++) {
          const want = mth(d.slice(0, m))
          expect(t.root(m).equals(want), `root(${m})`).toBe(true)
          expect(f.root().equals(want), `frontier ${m}`).toBe(true)
          if (m < n) f.push(refLeaf(d[m]!))
        }
      }),
      { numRuns: 60 },
    )
  })

  it('property: inclusion proofs equal the reference, verify, and fail for another leaf, index, root or path', () => {
    fc.assert(
      fc.property(size.filter((n) => n > 0), fc.nat(), fc.nat(), (n, a, b) => {
        const d = data(n)
        const t = tree(d)
        const m = a % n
        const size2 = m + 1 + (b % (n - m))
        const proof = t.inclusionProof(m, size2)
        expect(proof.map((p) => p.toString('hex'))).toEqual(path(m, d.slice(0, size2)).map((p) => p.toString('hex')))
        const root = mth(d.slice(0, size2))
        const leaf = refLeaf(d[m]!)
        expect(verifyInclusion(leaf, m, size2, proof, root)).toBe(true)
        expect(verifyInclusion(refLeaf(Buffer.from('forged')), m, size2, proof, root)).toBe(false)
        if (size2 > 1) expect(verifyInclusion(leaf, (m + 1) % size2, size2, proof, root)).toBe(false)
        expect(verifyInclusion(leaf, m, size2, proof, sha(Buffer.from('other root')))).toBe(false)
        if (proof.length > 0) {
          const bent = proof.map((p, i) => (i === proof.length - 1 ? Buffer.from(p.map((x, j) => (j === 0 ? x ^ 1 : x))) : p))
          expect(verifyInclusion(leaf, m, size2, bent, root)).toBe(false)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('property: consistency proofs equal the reference, verify, and fail for a tree that is not an extension', () => {
    fc.assert(
      fc.property(size, fc.nat(), (n, a) => {
        const d = data(n)
        const t = tree(d)
        const m = n === 0 ? 0 : a % (n + 1)
        const proof = t.consistencyProof(m, n)
        expect(proof.map((p) => p.toString('hex'))).toEqual(proofRef(m, d).map((p) => p.toString('hex')))
        const first = mth(d.slice(0, m))
        const second = mth(d)
        expect(verifyConsistency(m, n, first, second, proof)).toBe(true)
        if (m > 0 && m < n) {
          // the same sizes, but the old tree had another event somewhere
          const altered = [...d]
          altered[a % m] = Buffer.from('rewritten')
          expect(verifyConsistency(m, n, mth(altered.slice(0, m)), second, proof)).toBe(false)
          expect(verifyConsistency(m, n, first, mth(altered), proof)).toBe(false)
          expect(verifyConsistency(m, n, first, second, proof.slice(1))).toBe(false)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('property: with batches pruned (their leaves replaced by aligned subtree hashes), roots at every batch boundary and proofs for what remains are unchanged', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 12 }), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), (sizes, pruned) => {
        const n = sizes.reduce((x, y) => x + y, 0)
        const d = data(n, 1)
        let start = 0
        const groups: LeafGroup[] = sizes.map((s, i) => {
          const g: LeafGroup = { seq: i + 1, start, size: s }
          if (pruned[i]) g.subtrees = alignedBlocks(start, start + s).map((b) => ({ ...b, hash: mth(d.slice(b.start, b.start + b.size)) }))
          else g.leaves = Buffer.concat(d.slice(start, start + s).map(refLeaf))
          start += s
          return g
        })
        const t = new MerkleTree(groups)
        const boundaries = groups.map((g) => g.start + g.size)
        const f = new MerkleFrontier()
        for (const g of groups) {
          if (g.leaves) for (let i = 0; i < g.size; i++) f.push(g.leaves.subarray(i * 32, i * 32 + 32))
          else for (const s of g.subtrees!) f.push(s.hash, s.size)
          expect(f.root().equals(mth(d.slice(0, g.start + g.size)))).toBe(true)
        }
        for (const b of boundaries) {
          expect(t.root(b).equals(mth(d.slice(0, b))), `root at ${b}`).toBe(true)
          for (const a of [0, ...boundaries].filter((x) => x <= b)) expect(verifyConsistency(a, b, mth(d.slice(0, a)), mth(d.slice(0, b)), t.consistencyProof(a, b)), `${a}->${b}`).toBe(true)
        }
        for (const g of groups.filter((x) => x.leaves)) {
          for (let i = g.start; i < g.start + g.size; i++) expect(verifyInclusion(refLeaf(d[i]!), i, n, t.inclusionProof(i, n), mth(d))).toBe(true)
        }
      }),
      { numRuns: 50 },
    )
  })
})
