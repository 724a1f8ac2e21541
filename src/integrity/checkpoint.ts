/**
 * @module Signed checkpoints: a store's Merkle tree size and root, signed with Ed25519, in the
 * C2SP formats (https://c2sp.org/tlog-checkpoint inside a https://c2sp.org/signed-note), so
 * that other tools (Go's golang.org/x/mod/sumdb/note, transparency-log witnesses) can check
 * them. The keys are in the note formats too: `PRIVATE+KEY+<name>+<id>+<base64>` (0600) and
 * `<name>+<id>+<base64>` for the public one. docs/integrity.md describes every line.
 *
 *     kubetrail.io/chain/3f2a…            origin: the store, by its first chain link
 *     1891                                tree size (events)
 *     nOqtg6…=                            root hash (base64)
 *     time 2026-12-04T19:00:00.000Z       extension lines: when,
 *     cluster prod                        the writer's cluster,
 *     chain 42 ab12…                      the chain link (and its hash) the tree was taken at,
 *     prev 9c0e…                          SHA-256 of the previous checkpoint (its whole text)
 *
 *     — kubetrail-node1 AAAAAfI0…         signature: key id (4 bytes) and Ed25519 signature, base64
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { KubetrailError } from '../core/errors.js'

const ALG_ED25519 = 0x01

export interface Checkpoint {
  origin: string
  size: number
  root: Buffer
  time: string
  cluster: string
  chainSeq: number
  chainHash: string
  /** SHA-256 (hex) of the previous checkpoint's text, or `genesis`. */
  prev: string
}

export interface SignedCheckpoint extends Checkpoint {
  /** The whole note, body and signatures, as written. */
  text: string
  /** The note's body: what is signed. */
  body: string
  signatures: Array<{ name: string; keyId: Buffer; signature: Buffer }>
}

export interface Signer {
  name: string
  keyId: Buffer
  key: KeyObject
  /** The verifier key, `<name>+<id>+<base64>`. */
  publicKey: string
}

export interface Verifier {
  name: string
  keyId: Buffer
  key: KeyObject
}

/** The origin line of a store: by its first chain link, which no later commit changes. */
export function originOf(firstLinkHash: string): string {
  return `kubetrail.io/chain/${firstLinkHash.slice(0, 32)}`
}

/** The note's key id: the first 4 bytes of SHA-256(name \n 0x01 public-key). */
function keyIdOf(name: string, publicKey: Buffer): Buffer {
  return createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([ALG_ED25519]), publicKey])).digest().subarray(0, 4)
}

function checkKeyName(name: string): void {
  if (!/^[^\s+]+$/.test(name)) throw new KubetrailError('KT_USAGE', `checkpoint key name "${name}": no spaces or "+"`)
}

function rawKeys(key: KeyObject): { seed: Buffer; pub: Buffer } {
  const jwk = key.export({ format: 'jwk' })
  return { seed: Buffer.from(jwk.d ?? '', 'base64url'), pub: Buffer.from(jwk.x!, 'base64url') }
}

function signerOf(name: string, seed: Buffer, pub: Buffer): Signer {
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: pub.toString('base64url') }, format: 'jwk' })
  const keyId = keyIdOf(name, pub)
  return { name, keyId, key, publicKey: `${name}+${keyId.toString('hex')}+${Buffer.concat([Buffer.from([ALG_ED25519]), pub]).toString('base64')}` }
}

/** A new key pair, named (e.g. `kubetrail-<host>`). */
export function generateSigner(name = `kubetrail-${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}`): Signer {
  checkKeyName(name)
  const { privateKey } = generateKeyPairSync('ed25519')
  const { seed, pub } = rawKeys(privateKey)
  return signerOf(name, seed, pub)
}

/** The private key in the note format (`PRIVATE+KEY+<name>+<id>+<base64(0x01 seed)>`). */
export function formatPrivateKey(s: Signer): string {
  const { seed } = rawKeys(s.key)
  return `PRIVATE+KEY+${s.name}+${s.keyId.toString('hex')}+${Buffer.concat([Buffer.from([ALG_ED25519]), seed]).toString('base64')}`
}

export function parsePrivateKey(text: string, where = 'the checkpoint key'): Signer {
  const m = /^PRIVATE\+KEY\+([^\s+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text.trim())
  const raw = m ? Buffer.from(m[3]!, 'base64') : undefined
  if (!m || raw?.length !== 33 || raw[0] !== ALG_ED25519) throw new KubetrailError('KT_CHECKPOINT_KEY', `${where} is not an Ed25519 note signer key (PRIVATE+KEY+<name>+<id>+<base64>)`)
  const seed = raw.subarray(1)
  const { pub } = rawKeys(createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' }))
  const s = signerOf(m[1]!, seed, pub)
  if (s.keyId.toString('hex') !== m[2]) throw new KubetrailError('KT_CHECKPOINT_KEY', `${where}: its key id does not match the key`)
  return s
}

export function parsePublicKey(text: string, where = 'the public key'): Verifier {
  const m = /^([^\s+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text.trim())
  const raw = m ? Buffer.from(m[3]!, 'base64') : undefined
  if (!m || raw?.length !== 33 || raw[0] !== ALG_ED25519)
    throw new KubetrailError('KT_CHECKPOINT_KEY', `${where} is not an Ed25519 note verifier key (<name>+<id>+<base64>, as \`kubetrail checkpoint export --public-key\` prints it)`)
  const pub = raw.subarray(1)
  const keyId = keyIdOf(m[1]!, pub)
  if (keyId.toString('hex') !== m[2]) throw new KubetrailError('KT_CHECKPOINT_KEY', `${where}: its key id does not match the key`)
  return { name: m[1]!, keyId, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') }, format: 'jwk' }) }
}

/** Where the signing key is kept by default: outside the data directory, in the user's configuration. */
export function defaultKeyPath(): string {
  if (process.env['KUBETRAIL_CHECKPOINT_KEY']) return process.env['KUBETRAIL_CHECKPOINT_KEY']
  return join(process.env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'kubetrail', 'checkpoint.key')
}

/** The public key file kept beside a private key. */
export const publicKeyPathOf = (keyPath: string) => `${keyPath}.pub`

/**
 * The signing key at `path`, made on first use (0600, in a 0700 directory, with its public key
 * beside it): `serve` and `import` sign with it. A key mounted read-only (a Kubernetes Secret)
 * is used as it is.
 */
export function loadOrCreateSigner(path: string): { signer: Signer; created: boolean } {
  if (existsSync(path)) return { signer: parsePrivateKey(readFileSync(path, 'utf8'), path), created: false }
  const signer = generateSigner()
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  // written aside, then linked into place: another process never reads half a key, and the first one made wins
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, formatPrivateKey(signer) + '\n', { mode: 0o600 })
  chmodSync(tmp, 0o600)
  try {
    linkSync(tmp, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { signer: parsePrivateKey(readFileSync(path, 'utf8'), path), created: false }
    throw error
  } finally {
    rmSync(tmp, { force: true })
  }
  writeFileSync(publicKeyPathOf(path), signer.publicKey + '\n', { mode: 0o644 })
  return { signer, created: true }
}

export function checkpointBody(c: Checkpoint): string {
  return [c.origin, String(c.size), c.root.toString('base64'), `time ${c.time}`, `cluster ${c.cluster}`, `chain ${c.chainSeq} ${c.chainHash}`, `prev ${c.prev}`].join('\n') + '\n'
}

export function signCheckpoint(c: Checkpoint, signer: Signer): string {
  const body = checkpointBody(c)
  const signature = sign(null, Buffer.from(body, 'utf8'), signer.key)
  return `${body}\n\u2014 ${signer.name} ${Buffer.concat([signer.keyId, signature]).toString('base64')}\n`
}

/** SHA-256 (hex) of a checkpoint's whole text: what the next one's `prev` holds. */
export function checkpointHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** Reads a signed checkpoint; throws KT_CHECKPOINT_INVALID naming what is wrong. */
export function parseCheckpoint(text: string, where = 'checkpoint'): SignedCheckpoint {
  const bad = (why: string) => new KubetrailError('KT_CHECKPOINT_INVALID', `${where}: ${why}`, { hint: 'A kubetrail checkpoint is a signed note (docs/integrity.md).' })
  const split = text.indexOf('\n\n')
  if (split < 0) throw bad('no blank line between the checkpoint and its signatures')
  const body = text.slice(0, split + 1)
  const lines = body.slice(0, -1).split('\n')
  const [origin, size, root, ...ext] = lines
  if (!origin || !/^\d+$/.test(size ?? '') || !root) throw bad('it does not start with an origin, a tree size and a root hash')
  const rootHash = Buffer.from(root, 'base64')
  if (rootHash.length !== 32) throw bad('its root hash is not 32 bytes of base64')
  const field = (name: string) => ext.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1)
  const chain = /^(\d+) ([0-9a-f]{64})$/.exec(field('chain') ?? '')
  if (!chain) throw bad('no `chain <seq> <hash>` line')
  const signatures = text
    .slice(split + 2)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^\u2014 ([^\s+]+) ([A-Za-z0-9+/=]+)$/.exec(l)
      const raw = m ? Buffer.from(m[2]!, 'base64') : undefined
      if (!m || !raw || raw.length !== 68) throw bad(`not a signature line: ${JSON.stringify(l.slice(0, 80))}`)
      return { name: m[1]!, keyId: raw.subarray(0, 4), signature: raw.subarray(4) }
    })
  if (signatures.length === 0) throw bad('it is not signed')
  return {
    origin,
    size: Number(size),
    root: rootHash,
    time: field('time') ?? '',
    cluster: field('cluster') ?? '',
    chainSeq: Number(chain[1]),
    chainHash: chain[2]!,
    prev: field('prev') ?? '',
    text,
    body,
    signatures,
  }
}

/** Whether `c` carries a valid signature by `v` (name, key id and Ed25519 signature). */
export function signedBy(c: SignedCheckpoint, v: Verifier): boolean {
  return c.signatures.some((s) => s.name === v.name && s.keyId.equals(v.keyId) && verify(null, Buffer.from(c.body, 'utf8'), v.key, s.signature))
}

/** The form a checkpoint takes in a log (one line): `checkpoint <base64 of its text>`. */
export function checkpointLogLine(text: string): string {
  return `checkpoint ${Buffer.from(text, 'utf8').toString('base64')}`
}

/**
 * Every checkpoint in `text`: a checkpoint as written, or a log holding `checkpoint <base64>`
 * lines (a journal, `kubetrail serve`'s output, `import`'s).
 */
export function checkpointsIn(text: string): string[] {
  const logged = [...text.matchAll(/(?:^|\s)checkpoint ([A-Za-z0-9+/]+={0,2})(?=\s|$)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8')).filter((t) => t.includes('\n\n\u2014 '))
  if (logged.length > 0) return logged
  return text.includes('\n\n\u2014 ') ? [text] : []
}
