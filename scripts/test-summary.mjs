// Prints the suite's closing line, "N passed, N failed[, N skipped]", from vitest's JSON report.
import { existsSync, readFileSync } from 'node:fs'

const file = new URL('../.tmp/vitest-report.json', import.meta.url)
if (!existsSync(file)) {
  console.log('0 passed, 1 failed (no test report: the suite did not run)')
  process.exit(1)
}
const r = JSON.parse(readFileSync(file, 'utf8'))
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`)
