import { readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FIXTURES_DIR, requireFixture } from '../../test/support/fixtures.js'
import type { AuditEvent } from '../model/index.js'
import { mayHoldSecrets, Redactor } from './redact.js'

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
