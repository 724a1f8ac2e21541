/**
 * @module Lines produced while a long-running command works (a server's log), handed to the
 * printer as an async iterable that ends when the command closes it.
 */
export class LineQueue implements AsyncIterable<string> {
  private lines: string[] = []
  private wake: (() => void) | undefined
  private closed = false

  push(line: string): void {
    if (this.closed) return
    this.lines.push(line.endsWith('\n') ? line : `${line}\n`)
    this.wake?.()
  }

  close(): void {
    this.closed = true
    this.wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      if (this.lines.length > 0) {
        const out = this.lines.join('')
        this.lines = []
        yield out
        continue
      }
      if (this.closed) return
      await new Promise<void>((resolve) => (this.wake = resolve))
      this.wake = undefined
    }
  }
}
