/** A simulated video: per-segment sizes of every rung. */
export interface VideoSegments {
  /** Nominal rung bitrates, kbit/s, ascending. */
  ladderKbps: number[]
  segmentSeconds: number
  /** bytes[segment][rung] */
  bytes: number[][]
}

/** The Pensieve ladder. */
export const PENSIEVE_LADDER_KBPS = [300, 750, 1200, 1850, 2850, 4300]

/** mulberry32: a small seeded generator, so every run simulates the same video. */
export function seededRandom (seed: number): () => number {
  let a = seed | 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Segment sizes with a variable-bitrate encoder's variation: a scene complexity shared by all rungs
 * (log-normal, sd 0.25, correlated from one segment to the next, 0.6), a little independent noise
 * per rung (sd 0.05), rescaled so each rung averages its nominal bitrate.
 */
export function videoSegments (count: number, ladderKbps = PENSIEVE_LADDER_KBPS, segmentSeconds = 4, seed = 1): VideoSegments {
  const random = seededRandom(seed)
  const gaussian = () => {
    const u = Math.max(random(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
  }
  const rho = 0.6
  let z = gaussian()
  const complexity: number[] = []
  for (let i = 0; i < count; i++) {
    if (i > 0) z = rho * z + Math.sqrt(1 - rho * rho) * gaussian()
    complexity.push(Math.exp(0.25 * z))
  }
  const bytes = complexity.map((c) => ladderKbps.map(() => c * Math.exp(0.05 * gaussian())))
  for (let r = 0; r < ladderKbps.length; r++) {
    const mean = bytes.reduce((sum, row) => sum + row[r]!, 0) / count
    const nominal = (ladderKbps[r]! * 1000 * segmentSeconds) / 8
    for (const row of bytes) row[r] = Math.round((row[r]! / mean) * nominal)
  }
  return { ladderKbps: [...ladderKbps], segmentSeconds, bytes }
}
