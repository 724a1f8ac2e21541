/**
 * @module Read commands answered by a running `kubetrail serve`: it listens on a Unix socket in
 * its data directory (`query.sock`) and runs `query`, `who`, `history`, `top`, `sql` and `verify`
 * on a store reader it keeps open, so a command skips DuckDB's start and the footer reads (and
 * the web UI can use the same path). The CLI tries the socket first and runs the command itself
 * when nobody answers.
 *
 * Why a Unix socket: it needs no port and no credentials of its own. The data directory is 0700
 * and the socket 0600, so only the store's owner can connect, as only they can read the files.
 *
 * Protocol: `POST /v1/run` with `{"argv": [...]}`; the reply is NDJSON frames, `{"out": "…"}`
 * while the output streams, then one `{"exit": n, "err"?: "…", "warnings"?: [...]}`.
 */
import { chmodSync, existsSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { join, resolve } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { keepReaderOpen, resolveStore } from '../store/index.js'

export const QUERY_SOCKET = 'query.sock'

import { SERVED_COMMANDS } from './served-commands.js'
export { SERVED_COMMANDS }

interface Frame {
  out?: string
  exit?: number
  err?: string
  warnings?: string[]
}

/** Starts answering on `<dataDir>/query.sock`; resolves with a function that stops it. */
export async function serveQueries(dataDir: string, log: (line: string) => void): Promise<() => Promise<void>> {
  const { default: Fastify } = await import('fastify')
  const { invoke } = await import('./program.js')
  const { renderError } = await import('./render-error.js')
  const path = join(dataDir, QUERY_SOCKET)
  // a socket left by a serve that was killed (this process holds the writer lock: no other serve runs here)
  rmSync(path, { force: true })
  // inside the collector's process: a bounded reader, so a large query cannot take the
  // collector's memory; two threads (one thread made presets on 1M events ~1.8x slower, measured)
  const closeReader = keepReaderOpen(dataDir, { threads: 2, memoryLimit: '256MB' })
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 })
  // one command at a time: the kept reader has one DuckDB connection
  let lane: Promise<unknown> = Promise.resolve()
  app.post('/v1/run', async (req, reply) => {
    const argv = (req.body as { argv?: unknown } | null)?.argv
    if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string') || !SERVED_COMMANDS.has(String(argv[0])))
      return reply.code(400).send({ exit: 2, err: `kubetrail: only ${[...SERVED_COMMANDS].join(', ')} run in the server\n` })
    const frames = new PassThrough()
    const send = (f: Frame) => frames.write(JSON.stringify(f) + '\n')
    const run = async () => {
      try {
        const r = await invoke([...(argv as string[]), '--data-dir', dataDir], { stdin: Readable.from([]), cwd: dataDir, isTTY: false })
        if (r.printed) send({ out: r.printed })
        if (r.error !== undefined) return send({ exit: r.exitCode, err: renderError(r.error, false) })
        const out = r.result?.output
        if (typeof out === 'string') send({ out })
        else if (out) {
          for await (const chunk of out as AsyncIterable<string>) {
            // a client that went away (`| head`) ends the command, and frees the lane for the next
            if (frames.destroyed) break
            if (!frames.write(JSON.stringify({ out: chunk }) + '\n')) await drainedOrClosed(frames)
          }
        }
        send({ exit: r.result?.exitCode ?? 0, ...(r.result?.warnings?.length ? { warnings: r.result.warnings } : {}) })
      } catch (error) {
        send({ exit: 1, err: renderError(error, false) })
      } finally {
        frames.end()
      }
    }
    const done = lane.then(run, run)
    lane = done.catch(() => undefined)
    return reply.type('application/x-ndjson').send(frames)
  })
  await app.listen({ path })
  chmodSync(path, 0o600)
  log(`answering query, who, history, top, sql and verify on ${path}`)
  return async () => {
    await app.close()
    rmSync(path, { force: true })
    await closeReader()
  }
}

/** Resolves when the stream can take more, or is gone; leaves no listener behind (a long answer waits many times). */
function drainedOrClosed(stream: PassThrough): Promise<void> {
  return new Promise((done) => {
    const settle = () => {
      stream.off('drain', settle)
      stream.off('close', settle)
      done()
    }
    stream.on('drain', settle)
    stream.on('close', settle)
  })
}

/** The embedded store's directory a command line names (as the command itself would resolve it); undefined for a server store. */
function dataDirOf(argv: readonly string[], cwd: string): string | undefined {
  const flag = (name: string) => {
    let value: string | undefined
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!
      if (a === name) value = argv[i + 1]
      else if (a.startsWith(`${name}=`)) value = a.slice(name.length + 1)
    }
    return value
  }
  try {
    const location = resolveStore({ store: flag('--store'), dataDir: flag('--data-dir') }, cwd)
    return location.kind === 'duckdb' ? location.dir : undefined
  } catch {
    return undefined // the command itself reports it
  }
}

export interface RemoteWriters {
  out(chunk: string): Promise<void>
  err(text: string): void
}

/**
 * Whether a command names log files to read instead of the store (an existing path, a glob, `-`
 * for stdin): those are answered here. Another option's value that happens to name a file only
 * costs answering here too.
 */
function namesLogFiles(argv: readonly string[], cwd: string): boolean {
  return argv.slice(1).some((a, i) => argv[i] !== '--data-dir' && argv[i] !== '--store' && (a === '-' || (!a.startsWith('-') && ((/[*?]/.test(a) && !/\s/.test(a)) || existsSync(resolve(cwd, a))))))
}

/**
 * Runs a read command in the `kubetrail serve` of its data directory, if one answers; resolves
 * with the exit code, or undefined when the command should run here (not a read command, help
 * asked for, no server, or a socket nobody listens on). KUBETRAIL_LOCAL=1 always runs here.
 */
export async function runInServer(argv: readonly string[], cwd: string, write: RemoteWriters): Promise<number | undefined> {
  if (process.env['KUBETRAIL_LOCAL'] === '1' || !SERVED_COMMANDS.has(argv[0] ?? '') || argv.some((a) => a === '-h' || a === '--help')) return undefined
  if (namesLogFiles(argv, cwd)) return undefined
  const dir = dataDirOf(argv, cwd)
  // a server store answers queries itself
  if (dir === undefined) return undefined
  const socketPath = join(dir, QUERY_SOCKET)
  if (!existsSync(socketPath)) return undefined
  // the server adds its own --data-dir last, which wins: the argv goes as typed
  const body = JSON.stringify({ argv })
  return new Promise((done) => {
    const req = request({ socketPath, path: '/v1/run', method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let exit: number | undefined
      let pending = ''
      let writing = Promise.resolve()
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        pending += chunk
        const lines = pending.split('\n')
        pending = lines.pop()!
        for (const line of lines) {
          if (!line) continue
          const f = JSON.parse(line) as Frame
          if (f.out !== undefined) {
            const text = f.out
            res.pause()
            writing = writing.then(() => write.out(text)).then(() => void res.resume())
          }
          if (f.err) writing = writing.then(() => write.err(f.err!))
          for (const w of f.warnings ?? []) writing = writing.then(() => write.err(w.endsWith('\n') ? w : `${w}\n`))
          if (f.exit !== undefined) exit = f.exit
        }
      })
      res.on('end', () => void writing.then(() => done(exit ?? 1)))
    })
    // nobody listening (a serve that was killed): run the command here
    req.on('error', () => done(undefined))
    req.end(body)
  })
}
