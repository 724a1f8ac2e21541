/**
 * Every query preset on a real kube-apiserver log, against real jq (Debian's) running the audit
 * guide's filter on the same file: equal where the guide's jq is right, a superset (and the
 * difference explained) where the preset fixes it.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import { openStore, type AuditStore } from '../store/index.js'
import { rawEvents } from '../store/store.suite.js'
import { findPreset, privilegedReasons, QUERY_PRESETS } from './index.js'
import { isExternalIP } from '../model/index.js'

const LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))
let store: AuditStore

beforeAll(async () => {
  store = await openStore(join(mkdtempSync(join(tmpdir(), 'kubetrail-presets-')), 'data'), { write: true })
  await store.append(rawEvents(LOG), 'default')
})

function jqKeys(filter: string): string[] {
  // jq errors on some events for some guide filters (e.g. .containers[] of a pod without them); -e not used, errors ignored per line
  const out = execFileSync('jq', ['-c', `${filter} | [.auditID, .stage]`], { input: readFileSync(LOG), encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'], maxBuffer: 1 << 28 }).toString()
  return out.split('\n').filter(Boolean).sort()
}

async function presetKeys(name: string): Promise<string[]> {
  const p = findPreset(name)!
  const keys: string[] = []
  for await (const e of store.query(p.query)) if (!p.accept || p.accept(e.event)) keys.push(JSON.stringify([e.event.auditID, e.event.stage]))
  return keys.sort()
}

describe('query presets against real jq', () => {
  it('jq is installed (the comparison needs it)', () => {
    expect(execFileSync('jq', ['--version'], { encoding: 'utf8' })).toMatch(/^jq-1\./)
  })

  for (const p of QUERY_PRESETS.filter((p) => p.jqIsRight)) {
    it(`${p.name} selects exactly what the guide's jq selects`, async () => {
      const ours = await presetKeys(p.name)
      expect(ours.length).toBeGreaterThan(0)
      expect(ours).toEqual(jqKeys(p.seedJq))
    })
  }

  for (const p of QUERY_PRESETS.filter((p) => !p.jqIsRight && p.name !== 'external-ips' && p.name !== 'failed-auth' && p.name !== 'privileged-pods')) {
    it(`${p.name} selects everything the guide's jq does, and what it misses`, async () => {
      const ours = new Set(await presetKeys(p.name))
      const theirs = jqKeys(p.seedJq)
      for (const k of theirs) expect(ours.has(k), k).toBe(true)
      expect(p.fixes).toBeDefined()
      if (p.name === 'sa-token-creation') {
        expect(theirs).toEqual([]) // the guide's filter can never match
        expect(ours.size).toBeGreaterThan(0)
      }
    })
  }

  it('failed-auth finds every 401 and the TokenReview of a bogus token, which the guide misses', async () => {
    const ours = await presetKeys('failed-auth')
    const all401 = jqKeys('select(.responseStatus.code == 401)')
    for (const k of all401) expect(ours).toContain(k)
    const bogus = jqKeys('select(.objectRef.resource == "tokenreviews" and .responseObject.status.error != null)')
    expect(bogus.length).toBe(1)
    expect(ours).toContain(bogus[0])
    expect(ours.length).toBe(all401.length + 1)
    expect(jqKeys(findPreset('failed-auth')!.seedJq).filter((k) => ours.includes(k))).toEqual([])
  })

  it('exec includes the WebSocket attempts (verb get) and port-forward', async () => {
    const ours = await presetKeys('exec')
    expect(ours.length).toBe(jqKeys('select(.objectRef.resource == "pods" and (.objectRef.subresource | IN("exec","attach","portforward")) and (.verb | IN("create","get")))').length)
    expect(jqKeys('select(.objectRef.subresource=="exec" and .verb=="get")').length).toBeGreaterThan(0)
  })

  it('privileged-pods finds the privileged hostNetwork pod, with reasons', async () => {
    const found: string[][] = []
    for await (const e of store.query(findPreset('privileged-pods')!.query)) {
      const reasons = privilegedReasons(e.event.requestObject)
      if (reasons.length > 0) found.push([e.event.objectRef?.name ?? '', ...reasons])
    }
    expect(found.length).toBeGreaterThan(0)
    expect(found.every((f) => f[0] === 'priv-pod')).toBe(true)
    expect(found[0]).toEqual(expect.arrayContaining(['priv-pod', 'hostNetwork', expect.stringMatching(/^privileged container/)]))
  })

  it('external-ips knows private, loopback, link-local, CGNAT and IPv6 private ranges', () => {
    for (const ip of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '127.0.0.1', '169.254.1.1', '100.64.0.1', '::1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1'])
      expect(isExternalIP(ip), ip).toBe(false)
    for (const ip of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:db8::1', '::ffff:8.8.8.8']) expect(isExternalIP(ip), ip).toBe(true)
  })
})
