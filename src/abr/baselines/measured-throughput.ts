import type { Download } from '../abr-policy.js'

/** What a client measures for a download, bits/s: bytes over the time from request to last byte (latency included, as Pensieve's players measure). */
export function measuredThroughput (d: Download): number {
  return (d.bytes * 8) / Math.max(1e-6, d.endS - d.requestS)
}

/** Harmonic mean of the last `count` measurements; null before the first. */
export function harmonicMeanOfLast (downloads: readonly Download[], count: number): number | null {
  const recent = downloads.slice(-count)
  if (recent.length === 0) return null
  return recent.length / recent.reduce((sum, d) => sum + 1 / measuredThroughput(d), 0)
}
