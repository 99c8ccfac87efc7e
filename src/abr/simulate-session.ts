import type { AbrPolicy, Download } from './abr-policy.js'
import { bitsBy, timeOfBits, transferSeconds, type NetworkTrace } from './network-trace.js'
import type { VideoSegments } from './video-segments.js'

export interface SimulationOptions {
  /** Seconds of media the player holds at most; it waits for room before the next request. */
  bufferCapS?: number
  /** From sending a request to the first byte arriving. */
  latencyS?: number
  /** Where in the trace the session starts. */
  startS?: number
  segmentCount?: number
}

export const QOE_STALL_PENALTY = 4.3

/** One session's outcome. Startup (the first segment's wait) counts as stall, as in Pensieve's reward. */
export interface SessionResult {
  rungs: number[]
  stallS: number[]
  /** Linear QoE: per segment bitrate (Mbit/s) - 4.3 x stall (s) - |bitrate change| (Mbit/s). */
  qoe: number
  bitrateSumKbps: number
  stallTotalS: number
  playS: number
  /** Stalls after playback started. */
  rebufferCount: number
  switches: number
}

/** QoE and counts of a chosen rung sequence with its stalls. */
export function scoreSession (ladderKbps: number[], rungs: number[], stallS: number[], segmentSeconds: number): SessionResult {
  let qoe = 0
  let bitrateSumKbps = 0
  let switches = 0
  let rebufferCount = 0
  let stallTotalS = 0
  for (let i = 0; i < rungs.length; i++) {
    const kbps = ladderKbps[rungs[i]!]!
    bitrateSumKbps += kbps
    stallTotalS += stallS[i]!
    qoe += kbps / 1000 - QOE_STALL_PENALTY * stallS[i]!
    if (i > 0) {
      qoe -= Math.abs(kbps - ladderKbps[rungs[i - 1]!]!) / 1000
      if (rungs[i] !== rungs[i - 1]) switches++
      if (stallS[i]! > 1e-9) rebufferCount++
    }
  }
  return { rungs, stallS, qoe, bitrateSumKbps, stallTotalS, playS: rungs.length * segmentSeconds, rebufferCount, switches }
}

/**
 * Plays one session of `video` over `trace` with `policy`: segments one at a time, each request
 * waiting for its latency, then the trace's rate; the buffer stalls when empty and, above the cap,
 * the player waits until it is back at the cap before the next request. Deterministic.
 */
export function simulateSession (trace: NetworkTrace, video: VideoSegments, policy: AbrPolicy, options: SimulationOptions = {}): SessionResult {
  const cap = options.bufferCapS ?? 60
  const latency = options.latencyS ?? 0.08
  const count = options.segmentCount ?? video.bytes.length
  const L = video.segmentSeconds
  let t = options.startS ?? 0
  let buffer = 0
  let previous: number | null = null
  const downloads: Download[] = []
  const rungs: number[] = []
  const stalls: number[] = []
  for (let index = 0; index < count; index++) {
    const chosen = policy.choose({ index, nowS: t, bufferS: buffer, previous, downloads, video, segmentCount: count, latencyS: latency, bufferCapS: cap })
    const rung = Math.max(0, Math.min(video.ladderKbps.length - 1, Math.round(chosen)))
    const bytes = video.bytes[index]![rung]!
    const startS = t + latency
    const endS = startS + transferSeconds(trace, startS, bytes)
    const elapsed = endS - t
    stalls.push(Math.max(0, elapsed - buffer))
    const bufferAtRequest = buffer
    buffer = Math.max(0, buffer - elapsed) + L
    const wait = Math.max(0, buffer - cap)
    buffer -= wait
    const base = bitsBy(trace, startS)
    downloads.push({
      index,
      rung,
      bytes,
      requestS: t,
      startS,
      endS,
      bufferS: bufferAtRequest,
      receivedBy: (b: number) => (b <= 0 ? startS : b >= bytes ? endS : timeOfBits(trace, base + b * 8))
    })
    rungs.push(rung)
    previous = rung
    t = endS + wait
  }
  return scoreSession(video.ladderKbps, rungs, stalls, L)
}
