import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { collectOutput, type CommandContext } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { REPO_ROOT } from '../../../test/support/fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'kubetrail-cli-'))
let n = 0
function file(content: string | Buffer): string {
  const f = join(dir, `policy-${n++}.yaml`)
  writeFileSync(f, content)
  return f
}
const ctx = (stdin: Readable = new PassThrough()): CommandContext => ({ stdin, cwd: process.cwd(), isTTY: false })
async function run(args: string[], stdin?: Readable) {
  const r = await invoke(args, ctx(stdin))
  const out = r.result ? await collectOutput(r.result) : ''
  return { out, code: r.result?.exitCode ?? r.exitCode, err: r.error === undefined ? '' : renderError(r.error, false), warnings: r.result?.warnings ?? [] }
}
const COMPREHENSIVE = resolve(REPO_ROOT, 'examples/policies/comprehensive.yaml')
const HEAD = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n'

describe('kubetrail policy check', () => {
  it('accepts a valid policy with exit 0', async () => {
    const r = await run(['policy', 'check', COMPREHENSIVE])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/valid audit policy for Kubernetes 1\.\d+ \(8 rules/)
  })

  it.each([
    ['YAML syntax error', `${HEAD}rules:\n  - level: Metadata\n    verbs: [get, list\n`, /:\d+:\d+: YAML syntax error: Flow sequence/],
    ['unknown field', `${HEAD}rules:\n  - level: Metadata\n    verb: [get]\n`, /:5:5: rules\[0\]\.verb: unknown field "verb": kube-apiserver silently ignores it/],
    [
      'mis-indented verbs under resources',
      `${HEAD}rules:\n- level: None\n  resources:\n  - group: coordination.k8s.io\n    resources: ["leases"]\n    verbs: ["watch"]\n`,
      /:8:5: rules\[0\]\.resources\[0\]\.verbs: unknown field "verbs".*applies to every verb.*indent it/,
    ],
    ['bad level', `${HEAD}rules:\n  - level: Everything\n`, /:4:12: rules\[0\]\.level: Unsupported value: "Everything": supported values: "None", "Metadata", "Request", "RequestResponse"/],
    ['bad stage', `${HEAD}omitStages: [RequestRecieved]\nrules:\n  - level: Metadata\n`, /:3:14: omitStages\[0\]: Invalid value: "RequestRecieved": allowed stages are/],
    [
      'resources and nonResourceURLs in one rule',
      `${HEAD}rules:\n  - level: Metadata\n    resources: [{group: ""}]\n    nonResourceURLs: ["/healthz"]\n`,
      /:6:22: rules\[0\]\.nonResourceURLs: Invalid value: \["\/healthz"\]: rules cannot apply to both/,
    ],
    ['wrong apiVersion', 'apiVersion: audit.k8s.io/v2\nkind: Policy\nrules:\n  - level: Metadata\n', /:1:13: apiVersion: "audit.k8s.io\/v2" is not an audit policy version/],
    ['wrong kind', 'apiVersion: audit.k8s.io/v1\nkind: AuditPolicy\nrules:\n  - level: Metadata\n', /:2:7: kind: must be "Policy", not "AuditPolicy"/],
    ['missing apiVersion', 'rules:\n  - level: Metadata\n', /:1:1: apiVersion: missing/],
    ['no rules', HEAD, /rules: the policy has no rules \(kube-apiserver: "loaded illegal policy with 0 rules"/],
    ['empty file', '', /:1:1: the file is empty/],
    ['duplicate key', `${HEAD}rules:\n  - level: Metadata\n    level: None\n`, /:5:5: rules\[0\]\.level: duplicate key "level" \(also on line 4\)/],
    ['wrong type', `${HEAD}rules:\n  - level: Metadata\n    verbs: get\n`, /:5:12: rules\[0\]\.verbs: must be a list of strings/],
    ['a rule that is not a mapping', `${HEAD}rules:\n  - Metadata\n`, /:4:5: rules\[0\]: must be a mapping/],
  ])('reports %s with its position and exit 1', async (_name, text, expected) => {
    const r = await run(['policy', 'check', file(text)])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(expected)
    expect(r.out).not.toMatch(/\n\s+at /) // no stack trace
  })

  it('lists every error, not only the first', async () => {
    const r = await run(['policy', 'check', file(`${HEAD}omitStages: [Bogus]\nrules:\n  - level: Loud\n  - {}\n`)])
    expect(r.out.split('\n').filter((l) => l.includes(': '))).toHaveLength(4)
    expect(r.out).toContain('3 errors')
  })

  it('a binary file and a missing file are clear errors', async () => {
    const bin = await run(['policy', 'check', file(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]))])
    expect(bin.code).toBe(1)
    expect(bin.out).toMatch(/not a text file \(NUL byte at offset 4\)/)
    const missing = await run(['policy', 'check', join(dir, 'nope.yaml')])
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/^kubetrail: policy file not found: .*nope\.yaml \[KT_FILE_NOT_FOUND\]\nhint: /)
  })

  it('is version-aware: group "*" needs 1.36, v1beta1 is accepted before 1.24 with a warning', async () => {
    const star = file(`${HEAD}rules:\n  - level: Metadata\n    resources: [{group: "*"}]\n`)
    expect((await run(['policy', 'check', star])).code).toBe(0)
    expect((await run(['policy', 'check', star, '--kubernetes-version', '1.35'])).code).toBe(1)
    const beta = file('apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n  - level: Metadata\n')
    const old = await run(['policy', 'check', beta, '--kubernetes-version', 'v1.23.4'])
    expect(old.code).toBe(0)
    expect(old.warnings.join()).toMatch(/deprecated/)
    expect((await run(['policy', 'check', beta])).code).toBe(1)
    const bad = await run(['policy', 'check', beta, '--kubernetes-version', 'banana'])
    expect(bad.code).toBe(2)
  })

  it('--json reports errors as data', async () => {
    const r = await run(['policy', 'check', file(`${HEAD}rules:\n  - level: Loud\n`), '--json'])
    const parsed = JSON.parse(r.out) as { valid: boolean; errors: Array<{ line: number; column: number; message: string }> }
    expect(parsed.valid).toBe(false)
    expect(parsed.errors[0]).toMatchObject({ line: 4, column: 12 })
  })
})

describe('kubetrail policy explain', () => {
  const policy = file(
    `${HEAD}omitStages: [RequestReceived]\nrules:\n  - level: None\n    users: ["system:kube-proxy"]\n  - level: Request\n    verbs: ["create"]\n    resources: [{group: "", resources: ["pods/exec"]}]\n    omitStages: [ResponseStarted]\n  - level: RequestResponse\n    resources: [{group: "apps", resources: ["deployments"]}]\n    omitManagedFields: true\n  - level: Metadata\n    nonResourceURLs: ["/healthz*"]\n`,
  )

  it('--json prints the decision contract', async () => {
    const r = await run(['policy', 'explain', policy, '--verb', 'delete', '--resource', 'deployments', '--api-group', 'apps', '-n', 'prod', '--name', 'api', '--json'])
    expect(JSON.parse(r.out)).toEqual({ rule: 2, level: 'RequestResponse', omitStages: ['RequestReceived'], omitManagedFields: true })
    const none = await run(['policy', 'explain', policy, '--verb', 'get', '--resource', 'secrets', '--json'])
    expect(JSON.parse(none.out)).toEqual({ rule: null, level: 'None', omitStages: ['RequestReceived'], omitManagedFields: false })
  })

  it('shows rule, line, level and logged stages for a human', async () => {
    const r = await run(['policy', 'explain', policy, '--user', 'alice', '--verb', 'create', '--resource', 'pods/exec', '-n', 'default', '--name', 'web'])
    expect(r.out).toContain('Rule:    #1 (line 7): level=Request verbs=[create] resources=[core/pods/exec] omitStages=[ResponseStarted]')
    expect(r.out).toContain('Level:   Request')
    expect(r.out).toContain('- ResponseComplete')
    expect(r.out).not.toContain('- ResponseStarted')
    expect(r.out).toContain('omitted: RequestReceived, ResponseStarted')
  })

  it('matches the authenticating user, and a request without --user is unauthenticated', async () => {
    const proxy = await run(['policy', 'explain', policy, '--user', 'system:kube-proxy', '--verb', 'get', '--path', '/healthz', '--json'])
    expect(JSON.parse(proxy.out).rule).toBe(0)
    const anon = await run(['policy', 'explain', policy, '--verb', 'get', '--path', '/healthz/etcd', '--json'])
    expect(JSON.parse(anon.out).rule).toBe(3)
  })

  it('--requests evaluates NDJSON in order; a bad line keeps its place and sets exit 1', async () => {
    const input = [
      JSON.stringify({ user: 'system:kube-proxy', verb: 'watch', resource: 'endpoints' }),
      'not json',
      JSON.stringify({ user: 'a', verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'x', name: 'p' }),
      JSON.stringify({ verb: 'get', path: '/healthz', resourceRequest: false }),
      JSON.stringify({ verb: 'get', resource: 42 }),
    ].join('\n')
    const r = await run(['policy', 'explain', policy, '--requests', '-'], Readable.from([input]))
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map((l) => l['rule'] ?? l['error'])).toEqual([0, expect.stringMatching(/invalid JSON/), 1, 3, 'resource: must be a string, got 42'])
    expect(r.code).toBe(1)
    expect(r.warnings).toEqual([expect.stringMatching(/^<stdin>:2: invalid JSON/), '<stdin>:5: resource: must be a string, got 42'])
  })

  it('says when no rule matched, and names a request without a user', async () => {
    const r = await run(['policy', 'explain', policy, '--verb', 'get', '--resource', 'secrets', '-n', 'kube-system'])
    expect(r.out).toContain('Request: get secrets in namespace kube-system, by nobody (failed authentication: no user)')
    expect(r.out).toContain('Rule:    none matched: the request is not audited (level None)')
    expect(r.out).not.toContain('Stages logged')
  })

  it('an invalid policy or a missing --requests file is a clear error, not a stack trace', async () => {
    const bad = await run(['policy', 'explain', file(`${HEAD}rules:\n  - level: Loud\n`), '--verb', 'get', '--path', '/x'])
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/:4:12: rules\[0\]\.level: Unsupported value: "Loud"/)
    expect(bad.err).toContain('[KT_POLICY_INVALID]')
    const missing = await run(['policy', 'explain', policy, '--requests', join(dir, 'nope.ndjson')])
    expect(missing.err).toMatch(/^kubetrail: requests file not found: .*nope\.ndjson \[KT_FILE_NOT_FOUND\]/)
    for (const r of [bad, missing]) expect(r.err).not.toMatch(/\n\s+at /)
  })

  it('--requests FILE reads a file', async () => {
    const requests = join(dir, 'requests.ndjson')
    writeFileSync(requests, `${JSON.stringify({ verb: 'get', path: '/healthz' })}\n${JSON.stringify({ verb: 'get', resource: 'deployments', apiGroup: 'apps', namespace: 'x', name: 'y' })}\n`)
    const r = await run(['policy', 'explain', policy, '--requests', requests])
    expect(r.out.trim().split('\n').map((l) => (JSON.parse(l) as { rule: number | null }).rule)).toEqual([3, 2])
    expect(r.code).toBe(0)
  })

  it('needs a verb and exactly one of --resource / --path', async () => {
    expect((await run(['policy', 'explain', policy, '--resource', 'pods'])).code).toBe(2)
    expect((await run(['policy', 'explain', policy, '--verb', 'get'])).code).toBe(2)
    expect((await run(['policy', 'explain', policy, '--verb', 'get', '--resource', 'pods', '--path', '/x'])).code).toBe(2)
  })
})
