/**
 * @module Small text-formatting helpers shared by command outputs: aligned tables, byte and
 * count units.
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

/** Renders rows as a left/right-aligned text table. Numeric-looking cells are right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], indent = '  '): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+]?[\d,.]+( ?[a-zA-Z%/]+)?$|^-$/.test(r[i] ?? '')))
  const line = (cells: readonly string[]) =>
    indent +
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}
