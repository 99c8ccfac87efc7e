import { sampleBps, type ThroughputSample } from './throughput-sample.js'

/**
 * A session's bandwidth estimator, as plain JSON (it lives in Redis between requests and may be
 * continued by another node). Recent samples as [bits/s, seconds], oldest first, and the prior it
 * started from (a network's recent estimate), if any.
 */
export interface EstimatorState {
  samples: Array<[number, number]>
  initialBps: number | null
}

// Why this method: a segment's rate is what matters for its download time, so samples are weighted
// by their duration (equivalently: bytes over time, a byte-weighted harmonic mean, which a single
// fast sample cannot inflate much and a long slow one dominates). Two exponential averages over
// transfer time, as hls.js does, and the lower one is used: the short half-life follows a drop
// within one slow segment, the long one keeps a brief burst from lifting the estimate. An isolated
// high sample (several times both neighbours: a 'finish' overstated by a large send buffer, a burst
// into a proxy) is clamped until a next sample confirms the new level; low samples are never clamped,
// they are the safe side and a drop must show at once.
const WINDOW = 10
const FAST_HALF_LIFE_S = 3
const SLOW_HALF_LIFE_S = 9
const SPIKE_FACTOR = 3

export function newEstimator (initialBps: number | null = null): EstimatorState {
  const prior = initialBps !== null && Number.isFinite(initialBps) && initialBps > 0 ? initialBps : null
  return { samples: [], initialBps: prior }
}

/** The state with one more sample (the input is not changed). Unusable samples are ignored. */
export function addSample (state: EstimatorState, sample: ThroughputSample): EstimatorState {
  const bps = sampleBps(sample)
  const seconds = sample.durationMs / 1000
  if (!(sample.bytes > 0) || !(seconds > 0) || !Number.isFinite(bps)) return state
  const samples = state.samples.length >= WINDOW ? state.samples.slice(1 - WINDOW) : state.samples.slice()
  samples.push([bps, seconds])
  return { samples, initialBps: state.initialBps }
}

function ewma (rates: number[], seconds: number[], halfLife: number): number {
  const alpha = Math.pow(0.5, 1 / halfLife)
  let value = 0
  let weight = 0
  for (let i = 0; i < rates.length; i++) {
    const a = Math.pow(alpha, seconds[i]!)
    value = value * a + rates[i]! * (1 - a)
    weight = weight * a + (1 - a)
  }
  return value / weight
}

/**
 * The estimate in bits/s, or null when nothing is known. The prior (another session's figure) is
 * the estimate only until the session's own first sample; it then only bounds how high that first
 * sample may count before a second confirms it.
 */
export function estimateBps (state: EstimatorState): number | null {
  const n = state.samples.length
  if (n === 0) return state.initialBps
  const rates: number[] = []
  const seconds: number[] = []
  for (let i = 0; i < n; i++) {
    const [bps, s] = state.samples[i]!
    const before = i > 0 ? state.samples[i - 1]![0] : null
    const after = i + 1 < n ? state.samples[i + 1]![0] : null
    const neighbour = Math.max(before ?? 0, after ?? 0, state.initialBps !== null && i === 0 ? state.initialBps : 0)
    rates.push(neighbour > 0 ? Math.min(bps, SPIKE_FACTOR * neighbour) : bps)
    seconds.push(s)
  }
  return Math.min(
    ewma(rates, seconds, FAST_HALF_LIFE_S),
    ewma(rates, seconds, SLOW_HALF_LIFE_S)
  )
}
