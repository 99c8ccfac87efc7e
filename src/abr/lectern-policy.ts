import type { AbrPolicy, Download, PlayerView, PolicyFactory } from './abr-policy.js'
import { addSample, estimateBps, lowEstimateBps, newEstimator, type EstimatorState } from './bandwidth-estimator.js'
import { bufferSeconds, newBufferModel, onSegment } from './buffer-model.js'
import { chooseRendition } from './choose-rendition.js'
import { PLAN_HORIZON } from './plan-ahead.js'
import { sampleFromDelivery, sampleFromGap, type SegmentDelivery } from './sample-from-delivery.js'

export interface ServerObservation {
  /** The sender's socket buffer, bytes: 'finish' fires when all but this much was delivered. */
  sendBufferBytes: number
  /** Whether the player sends CMCD `mtp` (its own measure of the previous download, to 100 kbit/s). */
  mtp: boolean
  /** The RTT the server believes in; defaults to the simulated request latency. */
  rttMs?: number
  /**
   * Whether the server knows each segment's size in every rung (the files it serves), and chooses by
   * a lookahead over the next five, as /adaptive_stream does (src/delivery/upcoming-segment-bits.ts).
   */
  segmentSizes?: boolean
}

/** Bits of every rung of segment `index` and the next four, as the manifest gives them. */
export function upcomingBits (view: PlayerView): number[][] {
  return view.video.bytes.slice(view.index, Math.min(view.segmentCount, view.index + PLAN_HORIZON)).map((row) => row.map((b) => b * 8))
}

/** What the server keeps per session for the choice, beside the estimator and the buffer model. */
interface Held { current: number | null, held: number }

function choose (state: Held, ladderBps: number[], estimator: EstimatorState, buffer: number | null, segmentSeconds: number, remainingSeconds: number, upcoming?: number[][]): number {
  const rung = chooseRendition({
    ladderBps,
    estimateBps: estimateBps(estimator),
    lowEstimateBps: lowEstimateBps(estimator),
    bufferSeconds: buffer,
    current: state.current,
    segmentSeconds,
    remainingSeconds,
    heldSegments: state.current === null ? null : state.held,
    upcomingBits: upcoming,
    lastSampleBps: estimator.samples.at(-1)?.[0] ?? null,
    previousSampleBps: estimator.samples.at(-2)?.[0] ?? null
  })
  state.held = rung === state.current ? state.held + 1 : 1
  state.current = rung
  return rung
}

/**
 * Lectern's estimator and rule fed only what the server observes, through the same functions the
 * server uses: each request's arrival (half the latency after the player sent it), 'finish' when
 * all but the send buffer's worth was delivered (plus the half latency for the acknowledgements to
 * come back), how much the kernel accepted before pushing back, the player's `mtp` if it sends one,
 * and the buffer inferred from request timing. Events are replayed in the server's time order.
 */
export function lecternServerObserved (observe: ServerObservation): PolicyFactory {
  const sb = observe.sendBufferBytes
  const name = `Lectern, server-observed, ${sb >= 1 << 20 ? `${sb / (1 << 20)} MiB` : `${sb / 1024} KiB`}${observe.mtp ? ', mtp' : ''}${observe.segmentSizes === true ? ', sizes' : ''}`
  return {
    name,
    create: (): AbrPolicy => {
      let estimator = newEstimator(null)
      let buffer = newBufferModel()
      const held: Held = { current: null, held: 0 }
      let seen = 0
      let pending: SegmentDelivery | null = null
      let pendingHasSample = false
      const arrivals: number[] = []
      return {
        choose: (view) => {
          const half = (view.latencyS / 2) * 1000
          const rtt = observe.rttMs ?? view.latencyS * 1000
          const ladderBps = view.video.ladderKbps.map((k) => k * 1000)
          const L = view.video.segmentSeconds
          // 'finish' of every download so far (each precedes the next request's arrival)
          for (; seen < view.downloads.length; seen++) {
            const d: Download = view.downloads[seen]!
            const arrivalMs = arrivals[seen]!
            const pushedBack = d.bytes > sb
            const finishMs = pushedBack ? d.receivedBy(d.bytes - sb) * 1000 + half : arrivalMs + 1
            const delivery: SegmentDelivery = { bytes: d.bytes, arrivalMs, finishMs, acceptedBytes: Math.min(d.bytes, sb), segmentSeconds: L }
            // A player that sends mtp is sampled from it alone (as the server does): no 'finish' or gap sample.
            const sample = observe.mtp ? null : sampleFromDelivery(delivery)
            if (sample !== null) estimator = addSample(estimator, sample)
            pending = delivery
            pendingHasSample = observe.mtp || sample !== null
          }
          // this request's arrival: the gap sample the previous answer waited for, and its segment counted as arrived
          const arrivalMs = view.nowS * 1000 + half
          arrivals.push(arrivalMs)
          // The request carries the player's mtp of its last download (to 100 kbit/s, request to last
          // byte, as hls.js measures it), sampled when it arrives, before the choice, as the server does.
          const last = view.downloads[view.downloads.length - 1]
          if (observe.mtp && last !== undefined) {
            const mtpKbps = Math.max(100, Math.round((last.bytes * 8) / (last.endS - last.requestS) / 1e5) * 100)
            const sample = sampleFromDelivery({ bytes: last.bytes, arrivalMs, finishMs: arrivalMs, acceptedBytes: last.bytes, mtpKbps })
            if (sample !== null) estimator = addSample(estimator, sample)
          }
          if (pending !== null && !pendingHasSample) {
            const gap = sampleFromGap(pending, arrivalMs, rtt)
            if (gap !== null) estimator = addSample(estimator, gap)
          }
          pending = null
          buffer = onSegment(buffer, arrivalMs, L)
          return choose(held, ladderBps, estimator, bufferSeconds(buffer, arrivalMs), L, (view.segmentCount - view.index) * L, observe.segmentSizes === true ? upcomingBits(view) : undefined)
        }
      }
    }
  }
}

/** The same estimator and rule fed exact samples (each download's bytes over its transfer time) and the player's true buffer. */
export const lecternExact: PolicyFactory = {
  name: 'Lectern, exact samples',
  create: (): AbrPolicy => {
    let estimator = newEstimator(null)
    const held: Held = { current: null, held: 0 }
    let seen = 0
    return {
      choose: (view) => {
        for (; seen < view.downloads.length; seen++) {
          const d = view.downloads[seen]!
          estimator = addSample(estimator, { bytes: d.bytes, durationMs: (d.endS - d.startS) * 1000, atMs: d.endS * 1000, source: 'gap' })
        }
        const ladderBps = view.video.ladderKbps.map((k) => k * 1000)
        const L = view.video.segmentSeconds
        return choose(held, ladderBps, estimator, view.index === 0 ? null : view.bufferS, L, (view.segmentCount - view.index) * L)
      }
    }
  }
}
