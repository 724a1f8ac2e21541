/**
 * @module Small text-formatting helpers shared by command outputs: byte and count units
 * (tables: `renderTable` in output.ts).
 */

/** `1234567` → `1.23 MB` (decimal units, as disk sizes and GB/day figures are quoted). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let v = n
  let u = 0
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

export function formatPercent(part: number, whole: number): string {
  if (whole === 0) return '-'
  return `${((part / whole) * 100).toFixed(1)}%`
}
