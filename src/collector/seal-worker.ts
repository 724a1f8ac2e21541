/**
 * @module The sealer's thread (see sealer.ts): opens the collector's store for writing and runs
 * one operation per message, replying `{ id, ok, value | error }`; its first message says
 * whether the store opened.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { openStore, type AuditStore } from '../store/index.js'
import { runSealOp, serializeError, type SealerSpec, type SealOp } from './sealer.js'

const spec = workerData as SealerSpec
const port = parentPort!
let store: AuditStore
try {
  store = await openStore(spec.dataDir, spec.store)
  port.postMessage({ ready: true })
} catch (error) {
  port.postMessage({ ready: false, error: serializeError(error) })
  process.exit(1)
}

port.on('message', (message: { id: number } & SealOp) => {
  runSealOp(store, spec, message).then(
    (value) => port.postMessage({ id: message.id, ok: true, value }),
    (error: unknown) => port.postMessage({ id: message.id, ok: false, error: serializeError(error) }),
  )
})
