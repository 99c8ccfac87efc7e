/** What a lookahead over the next few segments rests on. Rates in bits/s, sizes in bits. */
export interface PlanInput {
  /** Rung bitrates the QoE counts (the ladder's nominal or average rates), ascending. */
  ratesBps: number[]
  /** Bits of each rung for this segment and the next few: upcomingBits[k][rung]; at least one row. */
  upcomingBits: number[][]
  /** The throughput the plan assumes. */
  planBps: number
  /** The pessimistic figure: stalls are reckoned at it, and the first segment's download at it must fit in the buffer. */
  lowBps: number
  /** When given, the first segment's stall is reckoned at the lower of this and lowBps (a fall in progress). */
  firstStallBps?: number | null | undefined
  bufferSeconds: number
  current: number
  segmentSeconds: number
  /** What the player's buffer ends at is worth: marginal value per second at a buffer of x seconds is 1 / spendFactor(x) (see below). */
  spendFactor: (bufferSeconds: number) => number
  /** Segments planned at most (PLAN_HORIZON when not given). */
  horizon?: number | undefined
  bufferCapS?: number | undefined
  /** Media seconds from this segment to the end of the video, when known: a plan that reaches the end leaves a buffer that is never played, worth nothing. */
  remainingSeconds?: number | null | undefined
}

// The linear QoE of the MPC and Pensieve papers, per segment: bitrate (Mbit/s) - 4.3 x stall (s) -
// |bitrate change| (Mbit/s).
const STALL_PENALTY = 4.3
/** Segments a plan covers at most (robustMPC's horizon): callers need give no more rows than this. */
export const PLAN_HORIZON = 5
const BUFFER_CAP_S = 60

/**
 * What ending a plan with `b` seconds of buffer is worth, in the QoE's units (Mbit/s of one segment).
 * A second of buffer buys a download of planBps x 1 s later, that is planBps / segmentSeconds of a
 * segment's bitrate, if spent at the rate; the rule spends a buffer of x seconds on rungs up to
 * spendFactor(x) x the rate, so its marginal worth there is (planBps / segmentSeconds) / spendFactor(x).
 * The value is the integral of that from 0 to b: a low buffer is dear, a deep one cheap, and a plan
 * that drains it for bitrate pays at the same schedule the rule without lookahead uses.
 */
export function bufferValue (b: number, planMbps: number, segmentSeconds: number, spendFactor: (x: number) => number): number {
  if (!(b > 0)) return 0
  // spendFactor is piecewise linear and cheap: integrate with the midpoint rule on 0.25 s steps
  // (exact for the flat parts, well within 0.1% on the sloped one).
  const step = 0.25
  let sum = 0
  for (let x = 0; x < b; x += step) {
    const dx = Math.min(step, b - x)
    sum += dx / spendFactor(x + dx / 2)
  }
  return (planMbps / segmentSeconds) * sum
}

/**
 * The rung for this segment from the best plan over the next few (every rung sequence, each
 * segment's real size, the buffer carried through, the QoE summed plus what the final buffer is
 * worth): a step up to a rung is taken when a run of cheaper segments makes it pay for its switch
 * costs, and a costly segment ahead is met with a lower rung. Downloads move the buffer at the
 * planned rate, stalls are reckoned at the low figure, and the first segment of a plan is never a
 * rung whose download at the low figure would outlast the buffer.
 *
 * A plan steps up only to a rung whose segment, at its real size, the low figure carries by the
 * rule's own schedule (bits / segmentSeconds <= min(planBps, lowBps) x spendFactor(buffer)); it
 * may stay on a rung above that while the plan pays for it. Without this, the buffer value alone
 * makes any rung above the rate worth entering whenever the buffer is above the target (a second
 * of buffer is priced at 1 / spendFactor < 1 of what it buys): at a constant 4 Mbit/s with a 30 s
 * buffer it stepped from 1.5 to 6 Mbit/s and back, where the rendition must settle on the highest
 * rung below the rate. The low figure, not the plan's, so that a harmonic mean still holding
 * samples from before a drop does not step back up.
 */
export function planAhead (input: PlanInput): number {
  const { ratesBps, planBps, lowBps, bufferSeconds, current, segmentSeconds, spendFactor } = input
  const n = ratesBps.length
  const rows = input.upcomingBits.slice(0, Math.max(1, input.horizon ?? PLAN_HORIZON))
  const cap = input.bufferCapS ?? BUFFER_CAP_S
  if (n <= 1 || rows.length === 0 || !(planBps > 0)) return Math.max(0, Math.min(n - 1, current))
  const mbps = ratesBps.map((r) => r / 1e6)
  const planMbps = planBps / 1e6
  const stallBps = lowBps > 0 ? Math.min(planBps, lowBps) : planBps
  const firstStallBps = input.firstStallBps != null && input.firstStallBps > 0 ? Math.min(stallBps, input.firstStallBps) : stallBps
  // Final buffers are looked up on a 0.05 s grid (the optimum's), not integrated per leaf.
  const grid = 0.05
  const values: number[] = [0]
  // A second of buffer buys planBps x 1 s of download, but no segment is worth more than the top
  // rung: on a link far above the ladder, buffer buys nothing (it made the plan sit on the lowest
  // rung for ten segments at 16 Mbit/s while the buffer filled).
  const worthMbps = Math.min(planMbps, mbps[n - 1]!)
  for (let i = 1; (i - 1) * grid <= cap; i++) values.push(values[i - 1]! + (worthMbps / segmentSeconds) * grid / spendFactor((i - 0.5) * grid))
  const worth = (b: number) => {
    const x = Math.min(cap, b) / grid
    const i = Math.floor(x)
    return values[i]! + (values[i + 1]! - values[i]!) * (x - i)
  }
  const toTheEnd = input.remainingSeconds != null && input.remainingSeconds < (rows.length + 0.5) * segmentSeconds
  const endWorth = toTheEnd ? () => 0 : worth
  let best = Number.NEGATIVE_INFINITY
  let bestFirst = 0
  const walk = (depth: number, buffer: number, prev: number, value: number, first: number): void => {
    if (depth === rows.length) {
      const total = value + endWorth(buffer)
      if (total > best) { best = total; bestFirst = first }
      return
    }
    const sizes = rows[depth]!
    for (let r = 0; r < n; r++) {
      const bits = sizes[r]!
      if (depth === 0 && r > 0 && bits / lowBps > bufferSeconds) continue
      // a step up only onto a segment the low figure carries at its real size, by the rule's schedule
      if (r > prev && bits > segmentSeconds * stallBps * spendFactor(buffer)) continue
      const download = bits / planBps
      // stalls are counted as if the download ran at the pessimistic figure
      const slow = bits / (depth === 0 ? firstStallBps : stallBps)
      const stall = slow > buffer ? slow - buffer : 0
      const next = Math.min(cap, (buffer > download ? buffer - download : 0) + segmentSeconds)
      walk(depth + 1, next, r, value + mbps[r]! - STALL_PENALTY * stall - Math.abs(mbps[r]! - mbps[prev]!), depth === 0 ? r : first)
    }
  }
  walk(0, bufferSeconds, current, 0, current)
  return bestFirst
}
