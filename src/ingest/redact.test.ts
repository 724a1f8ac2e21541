import { readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import type { AuditEvent } from '../model/index.js'
import { stringifyJson } from '../core/json.js'
import { mayHoldSecrets, REDACTED_PREFIX, Redactor } from './redact.js'

const redactor = new Redactor(Buffer.alloc(32, 7))

/** The text test must never skip an event the redactor would change. */
function expectSound(text: string): void {
  const count = redactor.redact(JSON.parse(text) as AuditEvent, text)
  if (count > 0) expect(mayHoldSecrets(text), text.slice(0, 200)).toBe(true)
}

describe('mayHoldSecrets', () => {
  it('lets through every real event the redactor changes, and skips most others', () => {
    const runs = requireFixture(resolve(FIXTURES_DIR, 'runs'))
    let changed = 0
    let skipped = 0
    let total = 0
    for (const run of readdirSync(runs)) {
      let text: string
      try {
        text = readFileSync(resolve(runs, run, 'audit.log'), 'utf8')
      } catch {
        continue
      }
      for (const line of text.split('\n').filter((l) => l.startsWith('{'))) {
        total++
        if (redactor.redact(JSON.parse(line) as AuditEvent, line) > 0) changed++
        if (!mayHoldSecrets(line)) skipped++
        expectSound(line)
      }
    }
    expect(changed).toBeGreaterThan(0)
    expect(skipped / total).toBeGreaterThan(0.5)
  })

  it('property: Secrets, tokens and credential fields in any body, escaped keys included', () => {
    const body = fc.oneof(
      fc.record({ kind: fc.constant('Secret'), data: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string()) }),
      fc.record({ status: fc.record({ token: fc.string() }) }),
      fc.record({ spec: fc.record({ token: fc.string() }) }),
      fc.record({ headers: fc.record({ Authorization: fc.string() }) }),
      fc.constant({ metadata: { name: 'x' } }),
    )
    const ref = fc.constantFrom(
      { resource: 'secrets', apiVersion: 'v1' },
      { resource: 'serviceaccounts', subresource: 'token', apiVersion: 'v1' },
      { resource: 'tokenreviews', apiGroup: 'authentication.k8s.io', apiVersion: 'v1' },
      { resource: 'configmaps', apiVersion: 'v1' },
    )
    fc.assert(
      fc.property(ref, body, fc.constantFrom('requestObject', 'responseObject'), fc.boolean(), (objectRef, b, field, escape) => {
        let text = JSON.stringify({ kind: 'Event', level: 'RequestResponse', auditID: 'a', stage: 'ResponseComplete', objectRef, [field]: b })
        // a writer may escape any character: the test must still see it
        if (escape) text = text.replace(/"Authorization"/g, '"\\u0041uthorization"').replace(/"token"/g, '"\\u0074oken"')
        expectSound(text)
      }),
      { numRuns: 300 },
    )
  })
})

describe('Secret-shaped objects anywhere in a body', () => {
  const event = (objectRef: Record<string, string>, requestObject: unknown): AuditEvent =>
    ({ kind: 'Event', level: 'Request', auditID: 'a', stage: 'ResponseComplete', verb: 'create', requestURI: '/x', user: {}, objectRef, requestObject, requestReceivedTimestamp: '2026-01-01T00:00:00Z', stageTimestamp: '2026-01-01T00:00:00Z' }) as unknown as AuditEvent
  const secret = (value: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { password: value }, stringData: { token: `${value}-plain` } })
  /** The event's text as the collector has it, redacted with that text (its hints decide whether bodies are walked). */
  const redacted = (e: AuditEvent) => {
    const text = stringifyJson(e)
    const copy = JSON.parse(text) as AuditEvent
    const n = redactor.redact(copy, text)
    if (n > 0) expect(mayHoldSecrets(text)).toBe(true)
    return { n, text: stringifyJson(copy) }
  }

  it('redacts Secrets in a List, in a CRD\'s template, without apiVersion, and deep inside any resource', () => {
    const cases: Array<[string, Record<string, string>, (v: string) => unknown]> = [
      ['a List of Secrets', { resource: 'configmaps', apiVersion: 'v1' }, (v) => ({ kind: 'List', apiVersion: 'v1', items: [{ kind: 'ConfigMap', data: { a: 'b' } }, secret(v)] })],
      ['a CRD embedding a Secret template', { resource: 'externalsecrets', apiGroup: 'external-secrets.io', apiVersion: 'v1beta1' }, (v) => ({ kind: 'ExternalSecret', spec: { target: { template: { ...secret(v), apiVersion: undefined } } } })],
      ['a Helm-like release with a Secret 300 levels down', { resource: 'widgets', apiGroup: 'example.com', apiVersion: 'v1' }, (v) => {
        let body: unknown = secret(v)
        for (let i = 0; i < 300; i++) body = i % 2 ? { nested: body } : [body]
        return { spec: body }
      }],
      ['a Secret in another object\'s last-applied-configuration', { resource: 'sealedsecrets', apiGroup: 'bitnami.com', apiVersion: 'v1alpha1' }, (v) => ({
        kind: 'Thing', metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ kind: 'Thing', spec: { template: secret(v) } }) } },
      })],
    ]
    for (const [name, ref, body] of cases) {
      const value = `c2VjcmV0LXZhbHVl${name.length}`
      const { n, text } = redacted(event(ref, body(value)))
      expect(n, name).toBeGreaterThanOrEqual(2)
      expect(text, name).not.toContain(value)
      expect(text, name).toContain(REDACTED_PREFIX)
    }
  })

  it('redacts an Authorization field at any depth (it stopped at 64 levels), once', () => {
    let body: unknown = { headers: { Authorization: 'Bearer deep-secret' } }
    for (let i = 0; i < 20_000; i++) body = { a: body }
    const { n, text } = redacted(event({ resource: 'widgets', apiGroup: 'example.com' }, body))
    expect(n).toBe(1)
    expect(text).not.toContain('deep-secret')
  })

  it('does not redact what is not a Secret: ConfigMap values named password, a Secret of another API group, a marker twice', () => {
    const cm = { kind: 'ConfigMap', apiVersion: 'v1', data: { password: 'not-a-secret-by-design' } }
    expect(redacted(event({ resource: 'configmaps', apiVersion: 'v1' }, cm)).text).toContain('not-a-secret-by-design')
    const other = { kind: 'Secret', apiVersion: 'example.com/v1', data: { password: 'other-group' } }
    expect(redacted(event({ resource: 'widgets' }, other)).text).toContain('other-group')
    // a Secret with a key named like a credential header is redacted as a Secret, not again as a header
    const s = { kind: 'Secret', apiVersion: 'v1', data: { Authorization: 'QmVhcmVyIHg=' } }
    const once = redactor.redact(event({ resource: 'secrets', apiVersion: 'v1' }, s), JSON.stringify(s))
    expect(once).toBe(1)
    expect(s.data.Authorization).toBe(redactor.marker('QmVhcmVyIHg='))
  })
})
