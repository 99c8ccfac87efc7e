import type { ThroughputSample } from './throughput-sample.js'

/** What the server can observe about one segment (or range) it sent. */
export interface SegmentDelivery {
  /** Body bytes sent. */
  bytes: number
  /** When the request arrived. */
  arrivalMs: number
  /** The response's 'finish' event: the last byte was handed to the kernel (not delivered). */
  finishMs: number
  /** Bytes the kernel accepted before it first pushed back; `bytes` when it never did. */
  acceptedBytes: number
  /** CMCD `mtp` sent with this request, kbit/s: the player's own measure of its recent downloads. */
  mtpKbps?: number | undefined
  /**
   * Media seconds in this segment, when known. Lets sampleFromGap tell a player that paces its
   * requests (one per segment duration once its buffer is full) from one fetching back to back.
   */
  segmentSeconds?: number | undefined
}

// 'finish' fires once all but the send buffer's worth has left, so it overstates the rate by about
// sendBuffer/size. Only when the kernel pushed back do we know roughly how much was still queued
// (what it accepted first), and only when that is a small part of the body is the rest a measure.
const FINISH_MIN_MULTIPLE = 4

/**
 * The sample one delivery gives on its own: the player's `mtp` when it sent one (it measured on its
 * side of the network), else a 'finish'-based sample when the kernel pushed back and the body is at
 * least four times what it accepted first, counting only the bytes that left before 'finish'.
 * Otherwise null: 'finish' then says nothing about the network.
 *
 * The `mtp` branch reads only `bytes`, `arrivalMs` and `mtpKbps`, so it can be taken when the request
 * arrives (it describes earlier downloads), before 'finish'.
 */
export function sampleFromDelivery (d: SegmentDelivery): ThroughputSample | null {
  const mtp = d.mtpKbps
  if (mtp !== undefined && Number.isFinite(mtp) && mtp > 0 && d.bytes > 0) {
    return { bytes: d.bytes, durationMs: (d.bytes * 8) / mtp, atMs: d.arrivalMs, source: 'mtp' }
  }
  if (!(d.acceptedBytes < d.bytes) || d.bytes < FINISH_MIN_MULTIPLE * d.acceptedBytes) return null
  const durationMs = d.finishMs - d.arrivalMs
  if (!(durationMs > 0)) return null
  return { bytes: d.bytes - d.acceptedBytes, durationMs, atMs: d.finishMs, source: 'finish' }
}

// A player that paces itself asks for the next segment when its buffer has room again: once full,
// that is one segment duration after the previous request, whatever the transfer took. A gap in
// [PACED_LOW, 1 + PACED_HIGH] segment durations (plus the RTT) may be such a wait, so it is no measure.
// Longer gaps cannot be waits (a waiting player asks at most a segment duration after the last ask).
const PACED_LOW = 0.8
const PACED_HIGH = 0.1

/**
 * An inter-request sample: the time from `prev`'s arrival to the next request on the same
 * connection, minus the RTT, is how long `prev` took to arrive when the player fetches back to back.
 * Null when the gap may contain a wait by the player (see above), when it is shorter than the
 * RTT, or when `prev` had no body. A gap sample can only understate the rate (the safe side).
 */
export function sampleFromGap (prev: SegmentDelivery, nextArrivalMs: number, rttMs: number): ThroughputSample | null {
  const gapMs = nextArrivalMs - prev.arrivalMs
  const rtt = Math.max(0, rttMs)
  if (prev.bytes <= 0 || !(gapMs > rtt)) return null
  const seg = prev.segmentSeconds
  if (seg !== undefined && seg > 0) {
    const segMs = seg * 1000
    if (gapMs >= PACED_LOW * segMs && gapMs <= (1 + PACED_HIGH) * segMs + rtt) return null
  }
  // The transfer cannot have ended before 'finish' handed over the last byte.
  const durationMs = Math.max(gapMs - rtt, prev.finishMs - prev.arrivalMs)
  return { bytes: prev.bytes, durationMs, atMs: nextArrivalMs, source: 'gap' }
}
