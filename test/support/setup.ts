/**
 * Runs before every test file: commands that sign checkpoints (`import`, `serve`) make their key
 * in a temporary directory of the test's own, never in the user's ~/.config.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

process.env['KUBETRAIL_CHECKPOINT_KEY'] ??= join(mkdtempSync(join(tmpdir(), 'kubetrail-test-key-')), 'checkpoint.key')
