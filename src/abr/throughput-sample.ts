/** Where a sample came from: the player's own CMCD `mtp`, the server's 'finish', or the gap to the next request. */
export type SampleSource = 'mtp' | 'finish' | 'gap'

/** One measurement of how fast a session received bytes: `bytes` in `durationMs`, taken at `atMs`. */
export interface ThroughputSample {
  bytes: number
  durationMs: number
  atMs: number
  source: SampleSource
}

/** The sample's rate in bits/s. A duration under a millisecond counts as one (no infinite rates). */
export function sampleBps (s: ThroughputSample): number {
  return (s.bytes * 8 * 1000) / Math.max(1, s.durationMs)
}
