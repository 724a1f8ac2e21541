/**
 * @module Where the test material lives: everything is in the repository (test/fixtures/, see its
 * README), so a plain clone runs the whole suite.
 */
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** Audit logs and webhook bodies written by a real kube-apiserver v1.20.2. */
export const FIXTURES_DIR = resolve(REPO_ROOT, 'test/fixtures/real-apiserver')
/** The 169 policy conformance cases, from the apiserver's own tests. */
export const CONFORMANCE_CASES = resolve(REPO_ROOT, 'test/fixtures/policy-conformance-cases.json')
/** The deterministic generator of synthetic audit events (tests and benchmarks). */
export const GEN_AUDIT = resolve(REPO_ROOT, 'scripts/gen-audit.mjs')

/** Fails loudly (never skips) when test material is missing. */
export function requireFixture(path: string): string {
  if (!existsSync(path)) throw new Error(`test material missing: ${path} (a partial checkout? see test/fixtures/README.md)`)
  return path
}
