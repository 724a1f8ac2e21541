/**
 * `kubetrail rbac …` end to end over a store holding the real kube-apiserver's log.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { parseAllDocuments } from 'yaml'
import { beforeAll, describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { FIXTURES_DIR, requireFixture } from '../../../test/support/fixtures.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }
async function run(args: string[]) {
  const r = await invoke(args, ctx)
  return { out: r.result ? await collectOutput(r.result) : '', code: r.result?.exitCode ?? r.exitCode, err: r.error ? renderError(r.error, false) : '' }
}
const dir = join(mkdtempSync(join(tmpdir(), 'kubetrail-rbac-')), 'data')

beforeAll(async () => {
  const r = await run(['import', requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log')), '--data-dir', dir])
  expect(r.code).toBe(0)
}, 60_000)

describe('kubetrail rbac generate', () => {
  it('prints the rules with their evidence, and what was asked for but not granted', async () => {
    const r = await run(['rbac', 'generate', '--serviceaccount', 'ci/deployer', '--data-dir', dir])
    expect(r.code).toBe(0)
    expect(r.out).toContain('ServiceAccount ci/deployer, every stored request: 53 authorized requests (46 allowed to every user anyway), 1 refused')
    expect(r.out).toMatch(/Role\s+production\s+apps\s+deployments\/scale\s+novelapp\s+patch\s+1\s+2026-11-22T21:06:05\.485272Z/)
    expect(r.out).toMatch(/Asked for but not granted:\nVERB\s+RESOURCE\/URL[^\n]*\nlist\s+secrets\s+kube-system\s+403\s+1/)
  })

  it('-o yaml is ready for kubectl apply: RBAC objects, each rule preceded by its evidence', async () => {
    const r = await run(['rbac', 'generate', '--user', 'system:serviceaccount:ci:deployer', '-o', 'yaml', '--data-dir', dir])
    const docs = parseAllDocuments(r.out).map((d) => d.toJSON() as { kind: string; items: Array<{ kind: string; metadata: { name: string; namespace?: string } }> })
    expect(docs.map((d) => d.kind)).toEqual(['List'])
    expect(docs[0]!.items.map((d) => `${d.kind} ${d.metadata.namespace}/${d.metadata.name}`)).toEqual(['Role production/kubetrail:ci:deployer', 'RoleBinding production/kubetrail:ci:deployer'])
    // no YAML anchors: the rules are written out where they are
    expect(r.out).not.toMatch(/[&*]a\d/)
    expect(r.out).toMatch(/ {6}# 1 request, last used 2026-11-22T21:06:05\.623375Z\n {6}- apiGroups:\n {10}- ""\n {8}resources:\n {10}- secrets\n {8}resourceNames:\n {10}- db-password/)
    expect(r.out).toContain('# Asked for but not granted (refused by the apiserver; in summary.denied, not in the rules):\n#   list secrets in kube-system: 1 request, 403')
  })

  it('-o json gives the rules, their evidence and the objects; -o ndjson one object a line', async () => {
    const json = JSON.parse((await run(['rbac', 'generate', '--user', 'bob@example.com', '-o', 'json', '--data-dir', dir])).out) as { kind: string; items: unknown[]; summary: { roles: Array<{ kind: string }>; denied: Array<{ verb: string; resource: string; name: string }> } }
    expect(json.kind).toBe('List')
    expect(json.summary.roles.length).toBeGreaterThan(0)
    expect(json.summary.denied).toContainEqual(expect.objectContaining({ verb: 'delete', resource: 'deployments', name: 'novelapp' }))
    const lines = (await run(['rbac', 'generate', '--user', 'bob@example.com', '-o', 'ndjson', '--data-dir', dir])).out.trim().split('\n')
    expect(lines.map((l) => (JSON.parse(l) as { kind: string }).kind)).toEqual(json.items.map((o) => (o as { kind: string }).kind))
  })

  it('an identity with no request says so and exits 1; bad flags are usage errors', async () => {
    const none = await run(['rbac', 'generate', '--user', 'nobody', '--data-dir', dir])
    expect(none).toMatchObject({ code: 1, out: 'No request by User nobody is in the store (every stored request).\n' })
    expect((await run(['rbac', 'generate', '--data-dir', dir])).err).toContain('give exactly one of --user, --serviceaccount, --group')
    expect((await run(['rbac', 'generate', '--serviceaccount', 'deployer', '--data-dir', dir])).err).toContain('use NAMESPACE/NAME')
    expect((await run(['rbac', 'generate', '--user', 'x', '--expand', 'everything', '--data-dir', dir])).err).toContain('--expand "everything"')
    expect((await run(['rbac', 'generate', '--user', 'x', '--max-names', '-1', '--data-dir', dir])).err).toContain('--max-names')
  })
})

const DUMP = requireFixture(resolve(FIXTURES_DIR, '../rbac-dump.yaml'))

describe('kubetrail rbac unused', () => {
  it('from the trail: per subject the granted, used and unused permissions, the riskiest unused first with its binding', async () => {
    const r = await run(['rbac', 'unused', '--data-dir', dir])
    expect(r.code).toBe(0)
    expect(r.out).toContain("Grants: the trail's RBAC history (127 changes), 4 bindings judged. Usage: every stored request.")
    expect(r.out).toMatch(/ServiceAccount ci\/deployer\s+53\s+2026-11-22T21:06:07\.578040Z\s+31\s+6\s+25\s+85/)
    expect(r.out).toMatch(/Granted, never used \(the 25 riskiest of 171; --top 0 for all, -o json for everything\):\nRISK\s+SUBJECT[^\n]*\n\s+85\s+ServiceAccount ci\/deployer\s+list\s+secrets\s+production\s+RoleBinding production\/deployer-secret-reader/)
    const json = JSON.parse((await run(['rbac', 'unused', '--serviceaccount', 'ci/deployer', '-o', 'json', '--data-dir', dir])).out) as { subjects: Array<{ label: string; unused: Array<{ risk: number }> }> }
    expect(json.subjects.map((s) => s.label)).toEqual(['ServiceAccount ci/deployer'])
    expect(json.subjects[0]!.unused).toHaveLength(25)
  })

  it('from a kubectl dump: a bound user with no request is dormant; a broken object is named by file, line and field, the others still read', async () => {
    const r = await run(['rbac', 'unused', '--rbac', DUMP, '--data-dir', dir])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/Dormant \(bound, no request in the trail\):\nSUBJECT[^\n]*\nUser oncall@example\.com\s+never\s+ClusterRoleBinding oncall-exec/)
    const json = JSON.parse((await run(['rbac', 'unused', '--rbac', DUMP, '--since', '2026-11-22T21:06:30Z', '-o', 'json', '--data-dir', dir])).out) as { dormant: Array<{ label: string; lastSeenBefore: string }> }
    // nothing after 21:06:30 from the deployer: dormant since, last seen before
    expect(json.dormant).toEqual(expect.arrayContaining([expect.objectContaining({ label: 'ServiceAccount ci/deployer', lastSeenBefore: '2026-11-22T21:06:07.578040Z' })]))
    const raw = await invoke(['rbac', 'unused', '--rbac', DUMP, '--data-dir', dir], ctx)
    expect(raw.result?.warnings).toEqual([`${DUMP}:59: items[4].roleRef: must be a map (object skipped)`])
    expect((await run(['rbac', 'unused', '--rbac', DUMP, '--at', '1d', '--data-dir', dir])).err).toContain('--at applies to grants rebuilt from the trail')
  })
})

describe('kubetrail rbac who-can', () => {
  it('who could delete novelapp beside who did: bob did, by a binding since deleted; --at the time of the delete shows it', async () => {
    const r = await run(['rbac', 'who-can', 'delete', 'deployment/novelapp', '-n', 'production', '--data-dir', dir])
    expect(r.code).toBe(0)
    expect(r.out).toContain('Who can delete deployments.apps named novelapp in namespace production: 5 subjects')
    expect(r.out).toMatch(/User alice@example\.com\s+no\s+0\s+-\s+RoleBinding production\/alice-edit/)
    expect(r.out).toMatch(/Did it, but no current grant allows them[^\n]*\nUSER[^\n]*\nbob@example\.com\s+1\s+2026-11-22T21:06:08\.106128Z\s+RBAC: allowed by ClusterRoleBinding "bob-cluster-admin"/)
    const then = JSON.parse((await run(['rbac', 'who-can', 'delete', 'deployments', '--name', 'novelapp', '-n', 'production', '--at', '2026-11-22T21:06:08.106Z', '-o', 'json', '--data-dir', dir])).out) as { allowed: Array<{ label: string; requests: number; via: string[] }>; didWithoutGrant: unknown[] }
    expect(then.allowed).toContainEqual(expect.objectContaining({ label: 'User bob@example.com', requests: 1, via: ['ClusterRoleBinding bob-cluster-admin'] }))
    expect(then.didWithoutGrant).toEqual([])
  })

  it('subresources and non-resource URLs; a URL takes no namespace', async () => {
    const exec = await run(['rbac', 'who-can', 'create', 'pods/exec', '-n', 'production', '--rbac', DUMP, '--data-dir', dir])
    expect(exec.out).toMatch(/User oncall@example\.com\s+no\s+0\s+-\s+ClusterRoleBinding oncall-exec/)
    const metrics = await run(['rbac', 'who-can', 'get', '/metrics', '--data-dir', dir])
    expect(metrics.out).toMatch(/Group system:monitoring\s+no\s+0\s+-\s+ClusterRoleBinding system:monitoring/)
    expect((await run(['rbac', 'who-can', 'get', '/metrics', '-n', 'x', '--data-dir', dir])).err).toContain('a non-resource URL has no namespace or name')
    expect((await run(['rbac', 'who-can', 'get', '--data-dir', dir])).err).toContain('missing required argument')
  })
})
