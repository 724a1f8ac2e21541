/**
 * @module `kubetrail verify`: recompute the store's hash chain and name the first batch that was
 * altered, removed, reordered or inserted.
 */
import { defineCommand, DATA_DIR_OPTION } from '../command.js'
import { openStore, resolveDataDir } from '../../store/index.js'

interface VerifyOptions {
  json?: boolean
  dataDir?: string
}

export default defineCommand<VerifyOptions>({
  path: ['verify'],
  summary: 'check the tamper-evident chain of stored batches; name the first batch that was changed',
  description: 'Exit 0 when every batch is intact, 1 otherwise. The last line is the chain head: record it elsewhere to detect a rewritten chain.',
  args: [],
  options: [{ flags: '--json', description: 'print the report as JSON' }, DATA_DIR_OPTION],
  examples: ['kubetrail verify', 'kubetrail verify --data-dir /var/lib/kubetrail --json'],
  async handler(_args, opts, ctx) {
    const store = await openStore(resolveDataDir(opts.dataDir, ctx.cwd))
    let report
    try {
      report = await store.verify()
    } finally {
      await store.close()
    }
    const exitCode = report.ok ? 0 : 1
    if (opts.json) return { output: JSON.stringify(report, null, 2) + '\n', exitCode }
    const lines = report.ok
      ? [`OK: ${report.links} chain links, ${report.events.toLocaleString('en-US')} events intact`]
      : [`TAMPERED: first problem in batch ${report.problems[0]!.seq}`, ...report.problems.map((p) => `  batch ${p.seq}: ${p.problem}`)]
    if (report.head) lines.push(`chain head: ${report.head}`)
    return { output: lines.join('\n') + '\n', exitCode }
  },
})
