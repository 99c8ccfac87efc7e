import { bitsBy, timeOfBits, type NetworkTrace } from './network-trace.js'
import { QOE_STALL_PENALTY, scoreSession, type SessionResult } from './simulate-session.js'
import type { VideoSegments } from './video-segments.js'

export interface OptimumOptions {
  bufferCapS?: number
  latencyS?: number
  startS?: number
  segmentCount?: number
  /** Buffer grid on which paths of equal (segment, rung) are merged, seconds. */
  stepS?: number
}

export interface OptimumResult extends SessionResult {
  /** States the program kept, over all segments. */
  states: number
}

/**
 * The offline optimum: a dynamic program over (segment, rung, buffer) with full knowledge of the
 * trace. Each cell (segment, rung, buffer to `stepS` = 0.05 s) keeps the path with the best QoE so
 * far, and keeps that path's exact time and buffer: download times are computed from the trace at
 * the path's exact time (finer than any time step), so the result is a plan the simulator plays to
 * the same QoE. Merging can only lose plans: this is at most a hair below the true optimum, never
 * above it. (Checked while writing it: adding the time to the cell, on a 0.5 s to 1 s grid, gave the
 * same QoE on every sampled trace; the tests check it against brute force on small instances.)
 */
export function offlineOptimum (trace: NetworkTrace, video: VideoSegments, options: OptimumOptions = {}): OptimumResult {
  const cap = options.bufferCapS ?? 60
  const latency = options.latencyS ?? 0.08
  const count = options.segmentCount ?? video.bytes.length
  const step = options.stepS ?? 0.05
  const L = video.segmentSeconds
  const R = video.ladderKbps.length
  const mbps = video.ladderKbps.map((k) => k / 1000)
  const bSlots = Math.floor(cap / step) + 1
  const cells = bSlots * R
  const t0 = options.startS ?? 0

  // Cells of the stage being built and of the previous one: QoE so far (-Infinity: empty), exact time and buffer.
  let q = new Float64Array(cells).fill(Number.NEGATIVE_INFINITY)
  let t = new Float64Array(cells)
  let b = new Float64Array(cells)
  let nq = new Float64Array(cells)
  let nt = new Float64Array(cells)
  let nb = new Float64Array(cells)
  const parents: Int32Array[] = []
  let states = 0

  for (let n = 0; n < count; n++) {
    nq.fill(Number.NEGATIVE_INFINITY)
    const parent = new Int32Array(cells).fill(-1)
    const sizes = video.bytes[n]!
    const sources = n === 0 ? 1 : cells
    for (let s = 0; s < sources; s++) {
      if (n > 0 && q[s] === Number.NEGATIVE_INFINITY) continue
      const time = n === 0 ? t0 : t[s]!
      const buffer = n === 0 ? 0 : b[s]!
      const reward = n === 0 ? 0 : q[s]!
      const lastMbps = n === 0 ? -1 : mbps[s % R]!
      const startS = time + latency
      const base = bitsBy(trace, startS)
      for (let r = 0; r < R; r++) {
        const endS = timeOfBits(trace, base + sizes[r]! * 8)
        const elapsed = endS - time
        let value = reward + mbps[r]!
        if (elapsed > buffer) value -= QOE_STALL_PENALTY * (elapsed - buffer)
        if (lastMbps >= 0) value -= Math.abs(mbps[r]! - lastMbps)
        let nextBuffer = (buffer > elapsed ? buffer - elapsed : 0) + L
        let nextTime = endS
        if (nextBuffer > cap) {
          nextTime += nextBuffer - cap
          nextBuffer = cap
        }
        const cell = Math.min(bSlots - 1, Math.floor(nextBuffer / step)) * R + r
        if (value > nq[cell]!) {
          nq[cell] = value
          nt[cell] = nextTime
          nb[cell] = nextBuffer
          parent[cell] = s
        }
      }
    }
    ;[q, nq] = [nq, q]
    ;[t, nt] = [nt, t]
    ;[b, nb] = [nb, b]
    parents.push(parent)
    for (let c = 0; c < cells; c++) if (q[c] !== Number.NEGATIVE_INFINITY) states++
  }
  let best = 0
  for (let c = 1; c < cells; c++) if (q[c]! > q[best]!) best = c
  const rungs: number[] = new Array<number>(count)
  for (let n = count - 1, c = best; n >= 0; n--) {
    rungs[n] = c % R
    c = parents[n]![c]!
  }
  // Replay the plan for its stalls (and the same QoE).
  const stalls: number[] = []
  let time = t0
  let buffer = 0
  for (let n = 0; n < count; n++) {
    const startS = time + latency
    const endS = timeOfBits(trace, bitsBy(trace, startS) + video.bytes[n]![rungs[n]!]! * 8)
    const elapsed = endS - time
    stalls.push(elapsed > buffer ? elapsed - buffer : 0)
    buffer = (buffer > elapsed ? buffer - elapsed : 0) + L
    time = endS
    if (buffer > cap) {
      time += buffer - cap
      buffer = cap
    }
  }
  return { ...scoreSession(video.ladderKbps, rungs, stalls, L), states }
}
