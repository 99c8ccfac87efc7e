import type { Rendition } from '../src/db/documents.js'
import { averageBitrate } from './measure-rendition.js'
import type { PlannedRung } from './plan-ladder.js'

/**
 * MPEG-TS costs more than the elementary streams it carries: 4 header bytes in every 188-byte
 * packet, PES headers, and the stuffing that ends each PES packet (most felt on small audio frames).
 * Measured on Lectern's own rungs, 3-8%; 10% keeps the bound above it.
 */
const TS_OVERHEAD = 1.1

/**
 * An upper bound of a rung's peak segment bitrate (BANDWIDTH) before its segments are measured.
 * A capped encode spends at most `maxrate x T + bufsize` bits of video in any T seconds (the VBV
 * model), so a whole segment of the target length carries at most maxrate + bufsize / length per
 * second; audio adds its own rate, and the container its overhead. Pure.
 */
export function peakUpperBound (rung: Pick<PlannedRung, 'videoBitrate' | 'bufferSize' | 'audioBitrate'>, segmentSeconds: number, hasAudio: boolean): number {
  const video = rung.videoBitrate + rung.bufferSize / segmentSeconds
  return Math.ceil((video + (hasAudio ? rung.audioBitrate : 0)) * TS_OVERHEAD)
}

/**
 * The rendition a viewer is told about while its rung is still being encoded: BANDWIDTH is the
 * upper bound above (the measured peak replaces it when the job ends), AVERAGE-BANDWIDTH the
 * average of the segments published so far (never above the bound). Pure.
 */
export function provisionalRendition (
  rung: PlannedRung,
  segments: Array<{ duration: number, size: number }>,
  codecs: string,
  segmentSeconds: number,
  hasAudio: boolean
): Rendition {
  const bandwidth = peakUpperBound(rung, segmentSeconds, hasAudio)
  return {
    name: rung.name,
    width: rung.width,
    height: rung.height,
    frameRate: rung.frameRate,
    bandwidth,
    averageBandwidth: Math.min(bandwidth, Math.ceil(averageBitrate(segments))),
    codecs,
    segmentCount: segments.length
  }
}
