/**
 * @module Where the shared research material and real-apiserver fixtures live. CI clones the
 * repository next to `shared/`; `KUBETRAIL_SHARED_DIR` overrides it.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = process.env['KUBETRAIL_SHARED_DIR'] ?? resolve(REPO_ROOT, '../shared');
export const FIXTURES_DIR = resolve(SHARED_DIR, 'fixtures/real-apiserver');
export const RESEARCH_DIR = resolve(SHARED_DIR, 'research');
/** Fails loudly (never skips) when the shared material is missing: tests depend on it. */
export function requireShared(path) {
    if (!existsSync(path))
        throw new Error(`shared test material missing: ${path} (set KUBETRAIL_SHARED_DIR)`);
    return path;
}
//# sourceMappingURL=shared.js.map