/**
 * @module `kubetrail policy init`: write one of the annotated preset policies.
 */
import { open } from 'node:fs/promises'
import { resolve } from 'node:path'
import { defineCommand } from '../command.js'
import { KubetrailError, UsageError } from '../../core/errors.js'
import { PRESETS, presetNames } from '../../policy/index.js'

interface InitOptions {
  preset: string
  file?: string
  output?: string
  force?: boolean
  list?: boolean
}

async function writeOwnerOnly(path: string, text: string, force: boolean): Promise<void> {
  let handle
  try {
    // 0600: an audit policy is part of the control plane's configuration
    handle = await open(path, force ? 'w' : 'wx', 0o600)
    await handle.writeFile(text)
    await handle.chmod(0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new KubetrailError('KT_FILE_EXISTS', `${path} already exists`, { hint: 'Use --force to overwrite it, or choose another --file.' })
    throw error
  } finally {
    await handle?.close()
  }
}

export default defineCommand<InitOptions>({
  path: ['policy', 'init'],
  summary: 'write an annotated starting policy (comprehensive, low-write, compliance, minimal)',
  description:
    'Prints the policy unless --file is given. Every rule is commented with why it is there.\n' +
    'The default, comprehensive, records every request at least at Metadata (so every change and every\n' +
    'failed login is attributable) without ever logging Secret values; choose low-write when log volume\n' +
    'matters more than reads, compliance when auditors want full bodies of every write.',
  args: [],
  options: [
    { flags: '--preset <name>', description: `one of: ${presetNames().join(', ')}`, default: 'comprehensive', choices: presetNames() },
    { flags: '-f, --file <file>', description: 'write to this file (mode 0600) instead of standard output' },
    // -o is the output format everywhere else: taken here only to refuse it with the right flag
    { flags: '-o, --output <value>', description: 'not used here: write a file with --file', hidden: true },
    { flags: '--force', description: 'overwrite an existing --file' },
    { flags: '--list', description: 'list the presets' },
  ],
  examples: ['kubetrail policy init > audit-policy.yaml', 'kubetrail policy init --preset low-write --file /etc/kubernetes/audit-policy.yaml', 'kubetrail policy init --list'],
  async handler(_args, opts, ctx) {
    if (opts.output !== undefined)
      throw new UsageError(`policy init writes a file with --file, not -o/--output ("${opts.output}")`, `-o selects an output format in every other command. Use: kubetrail policy init --preset ${opts.preset} --file ${opts.output}`)
    if (opts.list) {
      const width = Math.max(...PRESETS.map((p) => p.name.length))
      return { output: PRESETS.map((p) => `${p.name.padEnd(width)}  ${p.summary}`).join('\n') + '\n' }
    }
    const preset = PRESETS.find((p) => p.name === opts.preset)
    if (!preset) throw new UsageError(`unknown preset "${opts.preset}"`)
    if (!opts.file) return { output: preset.yaml }
    const path = resolve(ctx.cwd, opts.file)
    await writeOwnerOnly(path, preset.yaml, Boolean(opts.force))
    return { output: `wrote the ${preset.name} policy to ${opts.file}\nnext: kubetrail policy lint ${opts.file}\n` }
  },
})
