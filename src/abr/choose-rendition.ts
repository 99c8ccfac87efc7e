import { planAhead } from './plan-ahead.js'

/** What the choice of a session's next segment rests on. */
export interface ChoiceInput {
  /** Rung bitrates in bits/s (the playlist's BANDWIDTH), ascending. */
  ladderBps: number[]
  /** The rungs' AVERAGE-BANDWIDTH, same order, when known: a segment's expected size. */
  averageBps?: number[] | undefined
  /** The session's bandwidth estimate, bits/s; null when nothing is known. */
  estimateBps: number | null
  /** Seconds of media the player holds (CMCD `bl`, or the server's inference); null when unknown. */
  bufferSeconds: number | null
  /** Index of the rung served last; null before the first segment. */
  current: number | null
  segmentSeconds: number
  /** The estimator's pessimistic figure (lowEstimateBps), bits/s: guards against stalls and shows a drop at once. Defaults to estimateBps. */
  lowEstimateBps?: number | null | undefined
  /** Media seconds from this segment to the end of the video, when known (VOD): a buffer is not needed past the end. */
  remainingSeconds?: number | null | undefined
  /** Segments served in a row at `current`, when tracked: a step up waits until it has been held for 3. */
  heldSegments?: number | null | undefined
  /**
   * Bits of each rung for this segment and the next few (upcomingBits[k][rung]), when the server
   * knows its segments' sizes: the choice is then a lookahead over them (see plan-ahead.ts).
   */
  upcomingBits?: number[][] | undefined
  /** The newest sample's rate, bits/s, when there is one: a sharp fall in it is a drop the lookahead must not ride out. */
  lastSampleBps?: number | null | undefined
  /** The sample before the newest, bits/s: with the newest, whether the rate is still falling. */
  previousSampleBps?: number | null | undefined
}

// With nothing known, a master playlist lists first a rung under what a 3G phone sustains.
const SAFE_START_BPS = 1_500_000
const START_MARGIN = 0.9
// The rule: a rung is chosen for what `factor` x the estimate carries, the factor rising with the
// buffer: 0.5 when empty (the safety margin, which also makes a step up cautious), 1 at the 20 s
// target, up to 1.5 above it, where the buffer pays for running a rung above the rate for a while
// (between two rungs the rate falls in, that time-shares them: QoE counts it above the lower one).
const TARGET_BUFFER_S = 20
const FACTOR_PER_S = 1 / 40
const MIN_FACTOR = 0.5
const MAX_FACTOR = 1.5
// Near the end of a video the target shrinks: buffer past the end is never played.
const END_MARGIN_S = 16
// Hysteresis: the rung being served is kept while 1.2 x the chosen figure still carries it and its
// download, at the low estimate, fits in the buffer; a step up waits until the rung was held 3 segments.
const KEEP = 1.2
const HOLD_BEFORE_UP = 3
// A low estimate under half the estimate is a drop in progress: the rung follows it at once.
const DROP = 0.5

function highestUnder (rates: number[], limit: number): number {
  let index = 0
  for (let i = 0; i < rates.length; i++) if (rates[i]! <= limit) index = i
  return index
}

/** For a master playlist: with no estimate, the highest rung under ~1.5 Mbit/s (the lowest if none is); else the highest 90% of the estimate carries. */
export function safeStartIndex (ladderBps: number[], estimateBps: number | null): number {
  return highestUnder(ladderBps, estimateBps !== null && estimateBps > 0 ? estimateBps * START_MARGIN : SAFE_START_BPS)
}

/**
 * The rung for a session's next segment (an index into ladderBps). With nothing known: the
 * current rung, or the lowest to start (the first segment's wait is the viewer's startup delay).
 */
export function chooseRendition (input: ChoiceInput): number {
  const { ladderBps, segmentSeconds } = input
  const n = ladderBps.length
  if (n <= 1) return 0
  const current = input.current !== null && input.current >= 0 && input.current < n ? input.current : null
  const estimate = input.estimateBps
  if (estimate === null || !(estimate > 0)) return current ?? 0
  const low = input.lowEstimateBps != null && input.lowEstimateBps > 0 ? input.lowEstimateBps : estimate
  const rates = input.averageBps?.length === n ? input.averageBps : ladderBps
  const figure = low < DROP * estimate ? low : estimate
  const buffer = input.bufferSeconds ?? (current === null ? 0 : segmentSeconds)
  const target = input.remainingSeconds != null ? Math.min(TARGET_BUFFER_S, Math.max(0, input.remainingSeconds - END_MARGIN_S)) : TARGET_BUFFER_S
  const spendFactor = (b: number) => Math.min(MAX_FACTOR, Math.max(MIN_FACTOR, 1 + (b - target) * FACTOR_PER_S))
  const factor = spendFactor(buffer)
  let rung = highestUnder(rates, figure * factor)
  if (current === null) return rung
  // no rung whose download at the low estimate would outlast the buffer
  const fits = (r: number) => (rates[r]! * segmentSeconds) / low <= buffer
  while (rung > 0 && !fits(rung)) rung--
  const ruled = rung > current
    ? (input.heldSegments != null && input.heldSegments < HOLD_BEFORE_UP ? current : rung)
    : rung === current || (rates[current]! <= figure * factor * KEEP && fits(current)) ? current : rung
  const upcoming = input.upcomingBits
  if (upcoming === undefined || upcoming.length === 0 || !upcoming.every((row) => row.length === n)) return ruled
  // With the sizes known, the same buffer schedule prices a lookahead (plan-ahead.ts) instead; while
  // a drop is in progress (the low estimate, or the newest sample, under half the estimate and the
  // newest under the current rung) it may only go lower than the rule, which follows the drop at
  // once: the plan would spend the buffer to stay.
  // The plan's pessimistic figure (stalls, the step-up limit, the first segment's fit) is the newest
  // sample when it is under the low estimate, a weighted average that lags a fall; and when the two
  // newest samples fall, the first segment's stall is reckoned at the newest times that fall's ratio
  // (a fall in progress goes on one more segment).
  const last = input.lastSampleBps
  const newest = last != null && last > 0 ? last : null
  const previous = input.previousSampleBps
  const lowBps = newest !== null ? Math.min(low, newest) : low
  const firstStallBps = newest !== null && previous != null && previous > newest ? newest * (newest / previous) : null
  const planned = planAhead({ ratesBps: rates, upcomingBits: upcoming, planBps: figure, lowBps, firstStallBps, bufferSeconds: buffer, current, segmentSeconds, spendFactor, remainingSeconds: input.remainingSeconds })
  const falling = last != null && last > 0 && last < rates[current]! && last < DROP * estimate
  return figure < estimate || falling ? Math.min(planned, ruled) : planned
}
