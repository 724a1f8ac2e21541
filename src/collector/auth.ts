/**
 * @module Who may do what on the collector's HTTPS port: least-privileged roles, each credential
 * holding one.
 *
 * - `ingest`: POST events (the apiserver, other senders), optionally only for named clusters: a
 *   token for cluster A cannot write events as cluster B.
 * - `metrics`: GET /metrics (Prometheus).
 * - `query`: the read API under /api/v1 (the web UI).
 *
 * Bearer tokens come from `--token-file`, one per line: `TOKEN ROLE [CLUSTER...]`. A line with a
 * token alone is the format before roles existed: it may ingest (any cluster), and nothing else.
 * Tokens too short or too regular to resist guessing, and placeholders, are refused.
 *
 * Client certificates (signed by `--client-ca`) carry their role in the subject's organization
 * (O) values, as Kubernetes reads groups from them: `kubetrail:ingest`, `kubetrail:metrics`,
 * `kubetrail:query`, and `kubetrail:cluster:<name>` to limit ingestion to named clusters. A
 * certificate with no `kubetrail:` role (the apiserver's, made by the collector's own CA, or one
 * from your PKI) may ingest, for any cluster, and nothing else.
 *
 * Routes call `authenticate(request, role, cluster)`; the server does so in its onRequest hook,
 * before a body is read.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import type { TLSSocket } from 'node:tls'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { KubetrailError } from '../core/errors.js'
import { CLUSTER_NAME, CLUSTER_NAME_RULE } from '../core/cluster.js'

export const ROLES = ['ingest', 'metrics', 'query'] as const
export type Role = (typeof ROLES)[number]

/** What one credential may do. */
export interface Grant {
  role: Role
  /** For `ingest`: the clusters it may write; undefined: any. */
  clusters?: readonly string[]
}

/** A bearer token and its grant. */
export interface TokenGrant extends Grant {
  token: string
  /** Where it was declared (file:line), for messages that must never show the token. */
  source?: string
}

export interface Principal extends Grant {
  /** How it authenticated, for logs: `token <file:line>`, `certificate CN=…`, `anonymous (--insecure)`. */
  name: string
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; status: 401 | 403; message: string }

/** A token the collector refuses to accept: a placeholder, or too easy to guess. */
export class WeakTokenError extends KubetrailError {
  constructor(where: string, why: string) {
    super('KT_TOKEN_WEAK', `${where}: ${why}`, {
      hint: 'Use a long random token, e.g. `openssl rand -base64 32` (or `head -c 32 /dev/urandom | base64`), one per role and sender.',
    })
  }
}

/** At least this many characters (a 32-byte random value is 43-64 characters in base64 or hex). */
export const MIN_TOKEN_LENGTH = 32
/** And this much entropy by the token's own character frequencies (a random 32-character hex token shows 95-120 bits). */
export const MIN_TOKEN_BITS = 64
const PLACEHOLDER = /REPLACE|CHANGE.?ME|PLACEHOLDER|EXAMPLE|YOUR.?TOKEN|XXXXXX|<[^>]*>|\.\.\./i

/** Why a token is too weak to accept, or undefined. */
export function tokenWeakness(token: string): string | undefined {
  if (PLACEHOLDER.test(token)) return 'a placeholder, not a token: replace it'
  if (token.length < MIN_TOKEN_LENGTH) return `too short (${token.length} characters; at least ${MIN_TOKEN_LENGTH})`
  const counts = new Map<string, number>()
  for (const c of token) counts.set(c, (counts.get(c) ?? 0) + 1)
  let bits = 0
  for (const n of counts.values()) bits -= n * Math.log2(n / token.length)
  if (bits < MIN_TOKEN_BITS) return `too regular to resist guessing (about ${Math.round(bits)} bits by its own character frequencies; at least ${MIN_TOKEN_BITS})`
  // a pattern (0123456789 repeated) has few distinct runs of three; a random token almost only distinct ones
  const runs = new Set<string>()
  for (let i = 0; i + 3 <= token.length; i++) runs.add(token.slice(i, i + 3))
  if (runs.size < 0.8 * (token.length - 2)) return `too regular to resist guessing (it repeats itself: ${runs.size} distinct runs of 3 characters in ${token.length - 2})`
  return undefined
}

function invalid(where: string, message: string): KubetrailError {
  return new KubetrailError('KT_CONFIG_INVALID', `${where}: ${message}`, {
    hint: `One token per line: TOKEN ROLE [CLUSTER...], ROLE one of ${ROLES.join(', ')}; clusters only for ingest (none: any cluster).`,
  })
}

/**
 * The grants of a token file (see the module comment), every token checked. Warnings: lines in
 * the old one-token format, a file others may read.
 */
export function readTokenFile(path: string): { tokens: TokenGrant[]; warnings: string[] } {
  const warnings: string[] = []
  const tokens: TokenGrant[] = []
  const seen = new Map<string, string>()
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) return
      const where = `${path}:${i + 1}`
      const [token, role, ...clusters] = line.split(/\s+/) as [string, string | undefined, ...string[]]
      const grant = parseGrant(where, role, clusters)
      if (role === undefined) warnings.push(`${where}: a token without a role may only ingest (any cluster); write "TOKEN ingest [CLUSTER...]", and give Prometheus a "metrics" token of its own`)
      const earlier = seen.get(token)
      if (earlier) throw invalid(where, `the same token as ${earlier}: one token, one role`)
      seen.set(token, where)
      tokens.push({ token, source: where, ...grant })
    })
  if (tokens.length === 0) throw new KubetrailError('KT_CONFIG_INVALID', `${path}: no tokens (one per line)`, { hint: 'Put a long random token per line, e.g. `openssl rand -base64 32`, followed by its role: ingest, metrics or query.' })
  checkTokens(tokens)
  if ((statSync(path).mode & 0o077) !== 0) warnings.push(`${path} may be read by other users (mode ${(statSync(path).mode & 0o777).toString(8)}): chmod 600 it`)
  return { tokens, warnings }
}

function parseGrant(where: string, role: string | undefined, clusters: string[]): Grant {
  if (role === undefined) return { role: 'ingest' }
  if (!(ROLES as readonly string[]).includes(role)) throw invalid(where, `role "${role}" is not one of ${ROLES.join(', ')}`)
  if (clusters.length === 0) return { role: role as Role }
  if (role !== 'ingest') throw invalid(where, `clusters limit what an ingest token may write; a ${role} token takes none`)
  for (const c of clusters) if (!CLUSTER_NAME.test(c)) throw invalid(where, `cluster name "${c}": ${CLUSTER_NAME_RULE}`)
  return { role: 'ingest', clusters }
}

/** Throws WeakTokenError for the first weak token (named by where it was declared, never shown). */
export function checkTokens(tokens: readonly TokenGrant[]): void {
  tokens.forEach((t, i) => {
    const why = tokenWeakness(t.token)
    if (why) throw new WeakTokenError(t.source ?? `token ${i + 1}`, why)
  })
}

const CERT_ROLE = 'kubetrail:'
const CERT_CLUSTER = 'kubetrail:cluster:'

/** The grant of a client certificate, from its subject's O values (see the module comment). */
export function certificateGrants(organizations: readonly string[]): Grant[] {
  const clusters = organizations.filter((o) => o.startsWith(CERT_CLUSTER)).map((o) => o.slice(CERT_CLUSTER.length))
  const roles = ROLES.filter((r) => organizations.includes(`${CERT_ROLE}${r}`))
  const limit = clusters.length > 0 ? { clusters } : {}
  if (roles.length === 0) return [{ role: 'ingest', ...limit }]
  return roles.map((role) => (role === 'ingest' ? { role, ...limit } : { role }))
}

export interface AuthenticatorOptions {
  /** Anyone may do anything (tests only). */
  insecure?: boolean
  /** Client certificates verified against --client-ca count. */
  clientCertificates?: boolean
  tokens?: readonly TokenGrant[]
  /** GET /metrics without credentials. */
  publicMetrics?: boolean
}

/** The collector's credential check; one per server (see `authenticate`). */
export class Authenticator {
  private readonly digests: Array<{ digest: Buffer; grant: TokenGrant }>
  private readonly certificates = new WeakMap<TLSSocket, { name: string; grants: Grant[] }>()

  constructor(private readonly options: AuthenticatorOptions) {
    checkTokens(options.tokens ?? [])
    this.digests = (options.tokens ?? []).map((grant) => ({ digest: sha256(grant.token), grant }))
  }

  get anyCredential(): boolean {
    return Boolean(this.options.insecure || this.options.clientCertificates || this.digests.length > 0)
  }

  check(req: FastifyRequest, role: Role, cluster?: string): AuthResult {
    if (this.options.insecure) return { ok: true, principal: { name: 'anonymous (--insecure)', role } }
    if (role === 'metrics' && this.options.publicMetrics) return { ok: true, principal: { name: 'anyone (--public-metrics)', role } }
    const held = [...this.fromCertificate(req), ...this.fromToken(req)]
    if (held.length === 0) return { ok: false, status: 401, message: 'a client certificate signed by --client-ca or a bearer token from --token-file is required' }
    const fit = held.find((p) => p.role === role && (cluster === undefined || p.clusters === undefined || p.clusters.includes(cluster)))
    if (fit) return { ok: true, principal: fit }
    const which = held.map((p) => p.name).join(', ')
    if (held.some((p) => p.role === role)) return { ok: false, status: 403, message: `${which} may not ${role} for cluster "${cluster}"` }
    return { ok: false, status: 403, message: `${which} does not hold the ${role} role` }
  }

  private fromCertificate(req: FastifyRequest): Principal[] {
    if (!this.options.clientCertificates) return []
    const socket = req.raw.socket as TLSSocket
    if (socket.authorized !== true) return []
    let known = this.certificates.get(socket)
    if (!known) {
      // Node says `authorized` for a resumed TLS 1.3 session without any certificate (it takes the
      // resumption for PSK authentication): a peer refused once would be let in on its next
      // connection. Only a certificate that is there, and verified, counts.
      const peer = socket.getPeerCertificate()
      if (!peer || !peer.raw || peer.raw.length === 0) return []
      const subject = peer.subject as unknown as Record<string, string | string[] | undefined> | undefined
      const o = subject?.['O']
      const organizations = o === undefined ? [] : Array.isArray(o) ? o : [o]
      known = { name: `certificate CN=${String(subject?.['CN'] ?? '')}`, grants: certificateGrants(organizations) }
      this.certificates.set(socket, known)
    }
    const name = known.name
    return known.grants.map((g) => ({ ...g, name }))
  }

  private fromToken(req: FastifyRequest): Principal[] {
    const header = req.headers.authorization
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return []
    const presented = sha256(header.slice(7).trim())
    // every known token is compared, in constant time: the time taken says nothing about which
    let match: TokenGrant | undefined
    for (const { digest, grant } of this.digests) if (timingSafeEqual(digest, presented)) match = grant
    return match ? [{ role: match.role, clusters: match.clusters, name: `token ${match.source ?? ''}`.trim() }] : []
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

declare module 'fastify' {
  interface FastifyInstance {
    kubetrailAuth?: Authenticator
  }
  interface FastifyContextConfig {
    /** The role a route needs; the server's onRequest hook checks it before the body is read. */
    role?: Role | 'public'
  }
}

/**
 * Whether the request's credentials hold `role` (for `ingest`, for `cluster`): the one check
 * every route of the collector's server goes through, /api/v1 included. 401 without valid
 * credentials, 403 with credentials that do not hold the role.
 */
export function authenticate(request: FastifyRequest, role: Role, cluster?: string): AuthResult {
  const auth = request.server.kubetrailAuth
  if (!auth) return { ok: false, status: 401, message: 'this server has no authenticator' }
  return auth.check(request, role, cluster)
}

/** Installs the authenticator on a server (its plugins inherit it). */
export function installAuthenticator(app: FastifyInstance, auth: Authenticator): void {
  app.decorate('kubetrailAuth', auth)
}
