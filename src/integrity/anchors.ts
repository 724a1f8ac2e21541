/**
 * @module Anchors: where each checkpoint goes besides the store, so that someone who controls
 * the data directory cannot take back what was signed. A directory (another disk, a mounted
 * bucket), an HTTP endpoint (a witness, a log collector: POST, text/plain) and the process's own
 * log (stdout, and so the node's journal and whatever ships logs off the node).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkpointLogLine } from './checkpoint.js'

export interface Anchor {
  name: string
  write(text: string, size: number): Promise<void>
}

/** One file per checkpoint, `<size>-<time>.checkpoint`, written whole (a reader never sees half of one). */
export function directoryAnchor(dir: string): Anchor {
  return {
    name: `dir:${dir}`,
    async write(text, size) {
      mkdirSync(dir, { recursive: true })
      const name = `${String(size).padStart(14, '0')}-${Date.now()}.checkpoint`
      const tmp = join(dir, `.${name}.tmp`)
      writeFileSync(tmp, text, { mode: 0o644 })
      renameSync(tmp, join(dir, name))
    },
  }
}

/** POSTs the checkpoint's text; a reply other than 2xx, or none within 10 s, is a failure. */
export function httpAnchor(url: string): Anchor {
  return {
    name: `url:${new URL(url).origin}`,
    async write(text) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text, signal: AbortSignal.timeout(10_000) })
      await res.arrayBuffer().catch(() => undefined)
      if (!res.ok) throw new Error(`${url} answered ${res.status}`)
    },
  }
}

/** A log line `checkpoint <base64>` (what `verify --checkpoint FILE` reads back from a saved log). */
export function logAnchor(log: (line: string) => void): Anchor {
  return {
    name: 'log',
    async write(text) {
      log(checkpointLogLine(text))
    },
  }
}
