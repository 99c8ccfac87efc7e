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

// Why this method: two figures from the same recent samples. The estimate is the harmonic mean of
// the last 5 samples, the predictor robustMPC and FESTIVE use: a single fast sample cannot inflate it
// much, and it tracks the rate a session sustains over a few segments, which is what a rung must
// fit. The low estimate is the lower of two exponential averages over transfer time (3 s and 9 s
// half-lives, as hls.js), weighted by each sample's duration: one long slow download dominates it at
// once, so it shows a drop in the first slow segment, and the rule uses it to avoid stalls. An
// isolated high sample (several times both neighbours: a 'finish' overstated by a large send buffer,
// a burst into a proxy) is clamped until a next sample confirms the new level; low samples are never
// clamped, they are the safe side.
const WINDOW = 10
const MEAN_OF = 5
const FAST_HALF_LIFE_S = 3
const SLOW_HALF_LIFE_S = 9
const SPIKE_FACTOR = 3

export function newEstimator (initialBps: number | null = null): EstimatorState {
  const prior = initialBps !== null && Number.isFinite(initialBps) && initialBps > 0 ? initialBps : null
  return { samples: [], initialBps: prior }
}

/** How many recent samples the estimator keeps: of a longer run of usable samples, only the newest this many count. */
export const SAMPLE_WINDOW = WINDOW

/** Whether a sample can be added (a positive size and duration, a finite rate); others are ignored. */
export function isUsableSample (sample: ThroughputSample): boolean {
  return sample.bytes > 0 && sample.durationMs > 0 && Number.isFinite(sampleBps(sample))
}

/** The state with one more sample (the input is not changed). Unusable samples are ignored. */
export function addSample (state: EstimatorState, sample: ThroughputSample): EstimatorState {
  return addSamples(state, [sample])
}

/**
 * The state with `samples` added in order (the input is not changed), as adding them one at a time
 * would leave it; unusable samples are ignored. Only the newest that the window keeps are looked at,
 * so a batch of many samples costs no more than a window's worth.
 */
export function addSamples (state: EstimatorState, samples: readonly ThroughputSample[]): EstimatorState {
  const newest: Array<[number, number]> = []
  for (let i = samples.length - 1; i >= 0 && newest.length < WINDOW; i--) {
    const sample = samples[i]!
    if (isUsableSample(sample)) newest.push([sampleBps(sample), sample.durationMs / 1000])
  }
  if (newest.length === 0) return state
  newest.reverse()
  const older = WINDOW - newest.length
  return {
    samples: older > 0 ? state.samples.slice(Math.max(0, state.samples.length - older)).concat(newest) : newest,
    initialBps: state.initialBps
  }
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

/** Sample rates with isolated spikes clamped, and their durations. */
function recent (state: EstimatorState): { rates: number[], seconds: number[] } {
  const n = state.samples.length
  const rates: number[] = []
  const seconds: number[] = []
  for (let i = 0; i < n; i++) {
    const [bps, s] = state.samples[i]!
    const before = i > 0 ? state.samples[i - 1]![0] : 0
    const after = i + 1 < n ? state.samples[i + 1]![0] : 0
    const prior = i === 0 && state.initialBps !== null ? state.initialBps : 0
    const neighbour = Math.max(before, after, prior)
    rates.push(neighbour > 0 ? Math.min(bps, SPIKE_FACTOR * neighbour) : bps)
    seconds.push(s)
  }
  return { rates, seconds }
}

/**
 * The estimate in bits/s: the harmonic mean of the last 5 samples; null when nothing is known. The
 * prior (another session's figure from the same network) is the estimate only until the session's
 * own first sample; it then only bounds how high that first sample may count until a second
 * confirms it.
 */
export function estimateBps (state: EstimatorState): number | null {
  if (state.samples.length === 0) return state.initialBps
  const rates = recent(state).rates.slice(-MEAN_OF)
  return rates.length / rates.reduce((sum, r) => sum + 1 / r, 0)
}

/** The pessimistic figure, bits/s: the lower of the 3 s and 9 s duration-weighted averages; null when nothing is known. */
export function lowEstimateBps (state: EstimatorState): number | null {
  if (state.samples.length === 0) return state.initialBps
  const { rates, seconds } = recent(state)
  return Math.min(ewma(rates, seconds, FAST_HALF_LIFE_S), ewma(rates, seconds, SLOW_HALF_LIFE_S))
}
