// Makes the built CLI entry executable so `npx kubetrail` works straight after `npm ci`.
import { chmodSync, existsSync } from 'node:fs'

const entry = new URL('../dist/cli/main.js', import.meta.url)
if (existsSync(entry)) chmodSync(entry, 0o755)
