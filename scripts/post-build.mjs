// Makes the built CLI entry executable so `npx kubetrail` works straight after `npm ci`.
import { chmodSync, existsSync } from 'node:fs'

const entry = new URL('../dist/cli/main.js', import.meta.url)
if (existsSync(entry)) chmodSync(entry, 0o755)

// Data files the modules read at run time (the built-in detection rules) go next to them in dist/.
import { cpSync, mkdirSync, readdirSync } from 'node:fs'
const rulesSrc = new URL('../src/detect/builtin/', import.meta.url)
const rulesDist = new URL('../dist/detect/builtin/', import.meta.url)
mkdirSync(rulesDist, { recursive: true })
for (const f of readdirSync(rulesSrc)) if (f.endsWith('.yaml')) cpSync(new URL(f, rulesSrc), new URL(f, rulesDist))

// The built-in RBAC bootstrap objects (src/rbac/builtin/) likewise.
const rbacSrc = new URL('../src/rbac/builtin/', import.meta.url)
const rbacDist = new URL('../dist/rbac/builtin/', import.meta.url)
mkdirSync(rbacDist, { recursive: true })
for (const f of readdirSync(rbacSrc)) if (f.endsWith('.json')) cpSync(new URL(f, rbacSrc), new URL(f, rbacDist))
