import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { collectOutput } from '../command.js'
import { invoke } from '../program.js'
import { renderError } from '../render-error.js'
import { FIXTURES_DIR, requireFixture } from '../../../test/support/fixtures.js'
import { QUERY_PRESETS } from '../../query/index.js'

const ctx = { stdin: new PassThrough(), cwd: process.cwd(), isTTY: false }
async function run(args: string[]) {
  const r = await invoke(args, ctx)
  return { out: r.result ? await collectOutput(r.result) : '', code: r.result?.exitCode ?? r.exitCode, err: r.error ? renderError(r.error, false) : '', warnings: r.result?.warnings ?? [] }
}
const LOG = requireFixture(resolve(FIXTURES_DIR, 'runs/full/audit.log'))

/** The fixture as a day of rotated logs: an older gzip file, the live file, overlapping by 300 lines. */
function rotatedDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-logs-'))
  const lines = readFileSync(LOG, 'utf8').split('\n').filter(Boolean)
  writeFileSync(join(dir, 'audit-2026-11-22T21-06-05.000.log.gz'), gzipSync(lines.slice(0, 1200).join('\n') + '\n'))
  writeFileSync(join(dir, 'audit.log'), lines.slice(900).join('\n') + '\n')
  return dir
}

describe('questions asked of log files, without importing them', () => {
  it('answer as the imported store does: who, history, top, sql and every preset', async () => {
    const logs = rotatedDir()
    const dataDir = join(mkdtempSync(join(tmpdir(), 'kubetrail-cmd-')), 'data')
    expect((await run(['import', logs, '--data-dir', dataDir])).code).toBe(0)
    // the store's redaction key: the same markers whichever way a Secret is read
    const same = async (args: string[]) => {
      const stored = await run([...args, '--data-dir', dataDir])
      const read = await run([...args, logs, '--data-dir', dataDir])
      expect(read.err, args.join(' ')).toBe('')
      expect(read.code, args.join(' ')).toBe(stored.code)
      expect(read.out.replace(/is in the logs/, 'is in the store'), args.join(' ')).toBe(stored.out)
      return read
    }
    expect((await same(['who', 'delete', 'deployment/novelapp', '-n', 'production'])).out).toContain('bob@example.com')
    await same(['who', 'get', 'secrets', '--json'])
    await same(['history', 'deployment/novelapp', '-n', 'production'])
    await same(['top', '--by', 'user'])
    await same(['top', '--by', 'source-ip', '--code', '4xx'])
    await same(['query', '--verb', 'create', '--limit', '0', '-o', 'ndjson', '--sort', 'oldest'])
    await same(['sql', 'SELECT verb, count(*) AS n, count(DISTINCT audit_id) AS ids FROM events GROUP BY 1 ORDER BY 1'])
    for (const p of QUERY_PRESETS) await same(['query', '--preset', p.name, '--limit', '0', '-o', 'ndjson', '--sort', 'oldest'])
  })

  it('take a glob and a file, report malformed lines with file and line, and never query the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-logs-'))
    mkdirSync(join(dir, 'old'))
    copyFileSync(LOG, join(dir, 'old', 'audit-1.log'))
    writeFileSync(join(dir, 'broken.log'), '{"kind":"Event"\n')
    const r = await run(['top', '--by', 'verb', `${dir}/old/audit-*.log`, join(dir, 'broken.log'), '--data-dir', join(dir, 'no-store-here')])
    expect(r.err).toBe('')
    expect(r.out).toMatch(/1,155 +get/)
    expect(r.warnings).toHaveLength(2)
    expect(r.warnings[0]).toMatch(new RegExp(`^malformed: ${join(dir, 'broken.log')}:1: invalid JSON: `))
    expect(r.warnings[1]).toBe('1 malformed line(s) skipped; every other event was read')
    const missing = await run(['who', 'get', 'pods', join(dir, 'nope.log')])
    expect(missing.err).toMatch(/KT_FILE_NOT_FOUND/)
  })
})
