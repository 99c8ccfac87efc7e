import { SAMPLE_WINDOW, addSamples, estimateBps, isUsableSample, newEstimator, type EstimatorState } from './bandwidth-estimator.js'
import { newBufferModel, onSegment, type BufferModelState } from './buffer-model.js'
import { gapAt, type GapRun } from './gap-run.js'
import { sampleFromDelivery, sampleFromGap, type SegmentDelivery } from './sample-from-delivery.js'
import type { ThroughputSample } from './throughput-sample.js'

/** One viewing session's state, as kept in the session store (plain JSON). */
export interface AbrSession {
  estimator: EstimatorState
  /** estimateBps(estimator), kept so that answering a segment never recomputes it */
  estimate: number | null
  buffer: BufferModelState
  /** ladder index served last by /adaptive_stream, or chosen for the master */
  current: number | null
  /** segments served in a row at `current` (a step up waits for a few) */
  held: number
  /** smallest request gap seen after a small answer: an upper bound on the round trip, ms */
  rttMs: number | null
  /** the network the session plays from, to remember what it achieved */
  network: string | null
}

export function newSession (estimator: EstimatorState = newEstimator(null), network: string | null = null): AbrSession {
  return { estimator, estimate: estimateBps(estimator), buffer: newBufferModel(), current: null, held: 0, rttMs: null, network }
}

/**
 * What delivery observed of a session, in the order it happened. Recorded as plain values when it
 * happens (timestamps included), and applied to the session later, several at a time.
 */
export type SessionEvent =
  /** A segment request arrived: the player's buffer moves (`reportedBufferMs`: its CMCD `bl`). */
  | { kind: 'segment', arrivalMs: number, segmentSeconds: number, reportedBufferMs: number | undefined }
  /** A sample complete in itself ('finish'-based, or from nginx's log). */
  | { kind: 'sample', sample: ThroughputSample }
  /** The next request on the connection of a delivery arrived: a gap sample, less the session's round trip. */
  | GapEvent
  /** Consecutive gap events as numbers (see GapRun): only the newest that the estimator's window keeps are read. */
  | GapRun
  /** The gap after a small answer: an upper bound on the round trip. */
  | { kind: 'rtt', gapMs: number }
  /** The player's own throughput (CMCD `mtp`, kbit/s), weighted as the transfer of `bytesFor(session)`. */
  | { kind: 'reported', arrivalMs: number, mtpKbps: number, bytesFor: (s: AbrSession) => number }

/**
 * A segment's delivery and when the next request on its connection arrived. Delivery keeps these
 * as numbers until a batch is applied, and hands them over as GapRuns.
 */
export interface GapEvent extends SegmentDelivery {
  kind: 'gap'
  nextArrivalMs: number
}

/** The most of an inter-request gap that is put down to the round trip. */
const RTT_SHARE_MAX = 0.25

/**
 * A gap event's sample, or null. The round trip is known only from gaps after small answers, and
 * one slow gap would make every later sample too fast: at most a quarter of this gap is subtracted
 * (the safe side).
 */
function gapSample (e: GapEvent, rttMs: number | null): ThroughputSample | null {
  return sampleFromGap(e, e.nextArrivalMs, Math.min(rttMs ?? 0, RTT_SHARE_MAX * (e.nextArrivalMs - e.arrivalMs)))
}

/**
 * The session after `events` (the input is not changed). The estimate is computed once, at the
 * end, however many samples came in.
 */
export function applySessionEvents (s: AbrSession, events: readonly SessionEvent[]): AbrSession {
  let estimator = s.estimator
  let buffer = s.buffer
  let rttMs = s.rttMs
  // Samples are added to the estimator together, before anything that reads the estimator. Only the
  // window's newest usable ones count, so no more than a few windows' worth are held.
  let samples: ThroughputSample[] = []
  const take = (sample: ThroughputSample | null): void => {
    if (sample === null || !isUsableSample(sample)) return
    if (samples.length >= 4 * SAMPLE_WINDOW) samples = samples.slice(-SAMPLE_WINDOW)
    samples.push(sample)
  }
  const addPending = (): void => {
    if (samples.length > 0) estimator = addSamples(estimator, samples)
    samples = []
  }
  for (const e of events) {
    switch (e.kind) {
      case 'segment':
        buffer = onSegment(buffer, e.arrivalMs, e.segmentSeconds, e.reportedBufferMs)
        break
      case 'rtt':
        if (rttMs === null || e.gapMs < rttMs) rttMs = e.gapMs
        break
      case 'gap':
        take(gapSample(e, rttMs))
        break
      case 'gaps': {
        // Of a run, only its newest usable samples can be among the window's (later events are
        // newer still): it is read from its end until it gave a window's worth, so a session that
        // sent thousands of segments since its last update costs no more than one that sent ten.
        const newest: ThroughputSample[] = []
        for (let i = e.count - 1; i >= 0 && newest.length < SAMPLE_WINDOW; i--) {
          const sample = gapSample(gapAt(e, i), rttMs)
          if (sample !== null && isUsableSample(sample)) newest.push(sample)
        }
        for (let i = newest.length - 1; i >= 0; i--) take(newest[i]!)
        break
      }
      case 'sample':
        take(e.sample)
        break
      case 'reported': {
        addPending()
        const bytes = Math.max(1, Math.round(e.bytesFor({ ...s, estimator, buffer, rttMs })))
        take(sampleFromDelivery({ bytes, arrivalMs: e.arrivalMs, finishMs: e.arrivalMs, acceptedBytes: bytes, mtpKbps: e.mtpKbps }))
        break
      }
    }
  }
  addPending()
  if (estimator === s.estimator && buffer === s.buffer && rttMs === s.rttMs) return s
  return { ...s, estimator, estimate: estimator === s.estimator ? s.estimate : estimateBps(estimator), buffer, rttMs }
}
