/** A TCP port nothing listens on right now (for servers started by tests). */
import { createServer } from 'node:net'

export function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => done(port))
    })
  })
}
