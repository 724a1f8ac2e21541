/**
 * @module `kubetrail checkpoint keygen` (the Ed25519 key that signs checkpoints) and
 * `kubetrail checkpoint export` (the store's latest signed checkpoint, or all of them).
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { defineCommand, STORE_OPTIONS } from '../command.js'
import { KubetrailError, UsageError } from '../../core/errors.js'
import { hasMerkleTree, openStore, resolveStore, type StoreFlags } from '../../store/index.js'

interface KeygenOptions {
  file?: string
  name?: string
  force?: boolean
}

const KEYGEN_SCHEMA = Type.Object(
  {
    privateKeyFile: Type.String({ description: 'the signing key, 0600: keep it secret (a Kubernetes Secret, a file mounted from elsewhere)' }),
    publicKeyFile: Type.String(),
    publicKey: Type.String({ description: 'the verifier key, `<name>+<id>+<base64>`: give it to whoever checks checkpoints and proofs' }),
  },
  { additionalProperties: false },
)

export const checkpointKeygen = defineCommand<KeygenOptions>({
  path: ['checkpoint', 'keygen'],
  summary: 'make the Ed25519 key that signs checkpoints of the store (0600) and print its public key',
  description:
    '`import` and `serve` make one on first use; make it yourself to keep it elsewhere, e.g. in a Kubernetes Secret:\n' +
    '  kubetrail checkpoint keygen --file checkpoint.key\n' +
    '  kubectl -n kubetrail create secret generic kubetrail-checkpoint-key --from-file=checkpoint.key\n' +
    'and run `serve --checkpoint-key /etc/kubetrail/checkpoint/checkpoint.key` with the Secret mounted there.',
  args: [],
  options: [
    { flags: '--file <path>', description: 'where to write the private key (the public key goes beside it, <path>.pub); default: as import and serve' },
    { flags: '--name <name>', description: 'the key\'s name in signatures (default: kubetrail-<host name>)' },
    { flags: '--force', description: 'replace an existing key (checkpoints signed with the old one then need its public key)' },
  ],
  output: { schema: KEYGEN_SCHEMA },
  examples: ['kubetrail checkpoint keygen --file /secure/kubetrail/checkpoint.key', 'kubetrail checkpoint keygen --name prod-eu-collector -o json'],
  async handler(_args, opts, ctx) {
    const { defaultKeyPath, formatPrivateKey, generateSigner, publicKeyPathOf } = await import('../../integrity/index.js')
    const path = opts.file ? resolve(ctx.cwd, opts.file) : defaultKeyPath()
    if (existsSync(path) && !opts.force) throw new UsageError(`${path} exists: it may sign checkpoints already`, 'Pass --force to replace it, or choose another --file.')
    const signer = generateSigner(opts.name)
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    writeFileSync(path, formatPrivateKey(signer) + '\n', { mode: 0o600 })
    chmodSync(path, 0o600)
    writeFileSync(publicKeyPathOf(path), signer.publicKey + '\n', { mode: 0o644 })
    const data = { privateKeyFile: path, publicKeyFile: publicKeyPathOf(path), publicKey: signer.publicKey }
    return { report: { data, text: () => `signing key: ${path} (0600)\npublic key (${publicKeyPathOf(path)}):\n${signer.publicKey}\n` } }
  },
})

interface ExportOptions extends StoreFlags {
  all?: boolean
}

export const checkpointExport = defineCommand<ExportOptions>({
  path: ['checkpoint', 'export'],
  summary: "print the store's latest signed checkpoint (a signed note, docs/integrity.md)",
  description: 'Keep it outside the data directory; `kubetrail verify --checkpoint FILE --public-key KEY` checks the store against it later.',
  args: [],
  options: [{ flags: '--all', description: 'every checkpoint the store keeps, oldest first, each followed by a blank line' }, ...STORE_OPTIONS],
  examples: ['kubetrail checkpoint export > /mnt/elsewhere/latest.checkpoint', 'kubetrail checkpoint export --all'],
  async handler(_args, opts, ctx) {
    const store = await openStore(resolveStore(opts, ctx.cwd))
    try {
      if (!hasMerkleTree(store)) throw new KubetrailError('KT_STORE_NO_TREE', 'this store keeps no Merkle tree, and so no checkpoints')
      const saved = await store.savedCheckpoints()
      if (saved.length === 0) throw new KubetrailError('KT_CHECKPOINT_NONE', 'the store holds no signed checkpoint yet', { hint: '`kubetrail import` writes one at its end, `serve` one every minute.' })
      return { output: opts.all ? saved.join('\n') : saved.at(-1)! }
    } finally {
      await store.close()
    }
  },
})
