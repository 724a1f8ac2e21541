import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { chainProblems, checkBeforeRewrite, formatHead, GENESIS, headProblem, linkHash, nextLink, parseHeadRecord, verifyChain } from './chain.js'
import type { ChainLink } from './types.js'

const hex = (s: string) => createHash('sha256').update(s).digest('hex')

/** batches 1-4, a compaction of 2 and 3 (5), a prune of 1 (6), a batch (7) */
function sampleChain(): ChainLink[] {
  const links: ChainLink[] = []
  const add = (fields: Parameters<typeof nextLink>[1]) => links.push(nextLink(links.at(-1), fields))
  for (let i = 1; i <= 4; i++) add({ kind: 'batch', segment: `${i}.parquet`, events: 10 * i, firstAt: '2024-06-01T00:00:00.000000Z', lastAt: `2024-06-0${i}T00:00:00.000000Z`, contentHash: hex(`seg${i}`) })
  add({ kind: 'compact', segment: '5.parquet', replaces: [2, 3], replacedHashes: [hex('seg2'), hex('seg3')], events: 50, firstAt: '2024-06-01T00:00:00.000000Z', lastAt: '2024-06-03T00:00:00.000000Z', contentHash: hex('seg5') })
  add({ kind: 'prune', prunedSeq: 1, segment: '1.parquet', events: 10, lastAt: '2024-06-01T00:00:00.000000Z', contentHash: hex('seg1') })
  add({ kind: 'batch', segment: '7.parquet', events: 70, firstAt: '2024-06-07T00:00:00.000000Z', lastAt: '2024-06-07T00:00:00.000000Z', contentHash: hex('seg7') })
  return links
}

/** A link as kubetrail wrote it before format version 2 (firstAt, lastAt, segment, committedAt outside the hash). */
function legacy(l: ChainLink, prevHash: string): ChainLink {
  const { v: _v, replacedHashes: _r, ...rest } = l
  const old = { ...rest, prevHash }
  const replaces = old.replaces ? `\n${old.replaces.join(',')}` : ''
  return { ...old, hash: createHash('sha256').update(`${old.seq}\n${old.kind}\n${old.events}\n${old.contentHash}\n${old.prevHash}${replaces}`).digest('hex') }
}

function legacyChain(links: ChainLink[]): ChainLink[] {
  const out: ChainLink[] = []
  for (const l of links) out.push(legacy(l, out.at(-1)?.hash ?? GENESIS))
  return out
}

describe('chain links (format 2)', () => {
  it('an intact chain of batches, a compaction and a prune has no problems', () => {
    expect(chainProblems(sampleChain())).toEqual([])
  })

  it('property: changing any field of any link, or adding one, is caught at that link', () => {
    const fields = ['seq', 'kind', 'segment', 'firstAt', 'lastAt', 'committedAt', 'events', 'contentHash', 'prevHash', 'replaces', 'replacedHashes', 'prunedSeq', 'extra'] as const
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.constantFrom(...fields), fc.string({ minLength: 1, maxLength: 8 }), (index, field, noise) => {
        const links = sampleChain()
        const l = links[index] as unknown as Record<string, unknown>
        const value = l[field]
        l[field] =
          typeof value === 'number' ? value + 1 + (noise.length % 3)
          : Array.isArray(value) ? [...(value as unknown[]), typeof value[0] === 'number' ? 99 : noise]
          : field === 'lastAt' ? '2001-01-01T00:00:00.000000Z'
          : `${String(value ?? '')}${noise}`
        expect(chainProblems(links).map((p) => p.seq)).toContain(typeof l['seq'] === 'number' && field !== 'seq' ? index + 1 : l['seq'])
      }),
      { numRuns: 300 },
    )
  })

  it('a recent batch whose lastAt is set to 2001 breaks its link (the prune trap of format 1)', () => {
    const links = sampleChain()
    links[6]!.lastAt = '2001-01-01T00:00:00.000000Z'
    expect(chainProblems(links)).toEqual([{ seq: 7, problem: expect.stringMatching(/own hash does not match/) }])
  })

  it('a compaction must record the content its batches were committed with (the lineage)', () => {
    const links = sampleChain()
    links[4]!.replacedHashes = [hex('seg2'), hex('forged')]
    links[4]!.hash = linkHash(links[4]!)
    expect(chainProblems(links).find((p) => p.seq === 5)?.problem).toMatch(/did not compact the content its batches were committed with/)
  })

  it('a batch compacted twice, or pruned after it was compacted away, is caught', () => {
    const links = sampleChain().slice(0, 5)
    links.push(nextLink(links.at(-1), { kind: 'compact', segment: '6.parquet', replaces: [3, 4], replacedHashes: [hex('seg3'), hex('seg4')], events: 70, contentHash: hex('x') }))
    links.push(nextLink(links.at(-1), { kind: 'prune', prunedSeq: 2, segment: '2.parquet', events: 20, contentHash: hex('seg2') }))
    expect(chainProblems(links).map((p) => p.seq)).toEqual([6, 7])
  })

  it('a prune that does not match the batch it removes is caught', () => {
    const links = sampleChain().slice(0, 4)
    links.push(nextLink(links.at(-1), { kind: 'prune', prunedSeq: 4, segment: '4.parquet', events: 40, contentHash: hex('other') }))
    expect(chainProblems(links)).toEqual([{ seq: 5, problem: expect.stringMatching(/does not match batch 4/) }])
  })
})

describe('chains written before format 2', () => {
  it('still verify with their own hash, and new links continue them in format 2', () => {
    const old = legacyChain(sampleChain())
    expect(chainProblems(old)).toEqual([])
    const grown = [...old, nextLink(old.at(-1), { kind: 'batch', segment: '8.parquet', events: 1, contentHash: hex('seg8') })]
    expect(grown.at(-1)!.v).toBe(2)
    expect(chainProblems(grown)).toEqual([])
  })

  it('an old-format link after a format-2 link is a downgrade, and an unknown version is named', () => {
    const links = sampleChain()
    const down = [...links.slice(0, 6), legacy(links[6]!, links[5]!.hash)]
    expect(chainProblems(down)).toEqual([{ seq: 7, problem: expect.stringMatching(/old link format after a newer link/) }])
    const future = sampleChain()
    future[6]!.v = 3
    expect(chainProblems(future)).toEqual([{ seq: 7, problem: expect.stringMatching(/format version 3/) }])
  })
})

describe('the chain head recorded outside the store', () => {
  it('is found in the chain as it grows; a cut-off tail or a rewritten link is named', () => {
    const links = sampleChain()
    const recorded = { hash: links[6]!.hash, seq: 7 }
    expect(headProblem(links, recorded)).toBeUndefined()
    expect(headProblem([...links, nextLink(links[6], { kind: 'batch', segment: '8.parquet', events: 1, contentHash: hex('8') })], recorded)).toBeUndefined()
    expect(headProblem(links.slice(0, 6), recorded)).toEqual({ seq: 7, problem: expect.stringMatching(/is link 7, but the chain ends at link 6 \(its tail was removed\)/) })
    const rewritten = [...links.slice(0, 6), nextLink(links[5], { kind: 'batch', segment: '7.parquet', events: 69, contentHash: hex('seg7') })]
    expect(headProblem(rewritten, recorded)?.problem).toMatch(/differs from the recorded head/)
    expect(headProblem(links.slice(0, 6), { hash: recorded.hash })?.problem).toMatch(/is not in the chain/)
  })

  it('is read back from what kubetrail printed: the last head in a file counts', () => {
    const a = { seq: 3, hash: hex('a') }
    const b = { seq: 9, hash: hex('b') }
    const log = `kubetrail serve: chain head at start: ${formatHead(a)}\nkubetrail serve: chain head after storing 5 events: ${formatHead(b)}\n`
    expect(parseHeadRecord(log)).toEqual(b)
    expect(parseHeadRecord(`OK: 9 chain links\nchain head: ${b.hash}\n`)).toEqual({ hash: b.hash })
    expect(parseHeadRecord('no head here')).toBeUndefined()
  })
})

describe('verifyChain and checkBeforeRewrite (any store, given its content check)', () => {
  it('counts the live events, checks retired data still there, and reports in chain order', async () => {
    const links = sampleChain()
    const seen: Array<[number, boolean]> = []
    const report = await verifyChain(links, async (l, retired) => {
      seen.push([l.seq, retired])
      return l.seq === 3 ? 'altered' : undefined
    })
    expect(seen).toEqual([[1, true], [2, true], [3, true], [4, false], [5, false], [7, false]])
    expect(report).toMatchObject({ ok: false, links: 7, events: 40 + 50 + 70, head: links[6]!.hash, headSeq: 7 })
    expect(report.problems).toEqual([{ seq: 3, problem: expect.stringMatching(/compacted or pruned away.*altered/) }])
  })

  it('refuses a rewrite when an input is not what was committed, or its link was edited', async () => {
    const links = sampleChain()
    await expect(checkBeforeRewrite('compaction', links, [links[3]!, links[6]!], async (l) => (l.seq === 7 ? 'its content differs' : undefined))).rejects.toMatchObject({
      code: 'KT_STORE_TAMPERED',
      message: expect.stringMatching(/^compaction refused: batch 7 its content differs/),
    })
    links[3]!.events = 41
    await expect(checkBeforeRewrite('prune', links, [links[3]!], async () => undefined)).rejects.toMatchObject({ code: 'KT_STORE_TAMPERED', message: expect.stringMatching(/batch 4/) })
    await expect(checkBeforeRewrite('prune', sampleChain(), [sampleChain()[3]!], async () => undefined)).resolves.toBeUndefined()
  })
})
