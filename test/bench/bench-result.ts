/** What a benchmark module's run() returns; test/bench/run.ts prints it as a table. */
export interface BenchResult {
  name: string
  /** One row per measured variant, same keys in every row (e.g. variant, ops/s, MiB/s). */
  rows?: Array<Record<string, string | number>>
  /** Conclusions, mostly ratios against the reference measured in the same run. */
  lines: string[]
}

function cell (value: string | number): string {
  if (typeof value === 'string') return value
  if (Number.isInteger(value)) return value.toLocaleString('en-US')
  return value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 2 : 0 })
}

/** A plain-text table of the rows, then the lines. */
export function formatBenchResult (result: BenchResult): string {
  const out = [`== ${result.name}`]
  const rows = result.rows ?? []
  if (rows.length > 0) {
    const columns = Object.keys(rows[0]!)
    const cells = [columns, ...rows.map((row) => columns.map((c) => cell(row[c] ?? '')))]
    const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
    const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')
    out.push(line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line))
  }
  out.push(...result.lines)
  return out.join('\n')
}
