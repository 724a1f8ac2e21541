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
