import type { PolicyFactory } from '../abr-policy.js'
import { harmonicMeanOfLast, measuredThroughput } from './measured-throughput.js'

/**
 * robustMPC (Yin et al., SIGCOMM 2015, as in Pensieve's mpc.py): the throughput predicted as the
 * harmonic mean of the last 5 measurements divided by 1 + the largest relative prediction error of
 * the last 5, then every rung sequence of the next 5 segments (their real sizes, as the manifest
 * gives them) scored with the linear QoE, and the first of the best one chosen. The first segment
 * is the 750k rung, as Pensieve starts.
 */
export const robustMpc: PolicyFactory = {
  name: 'robustMPC',
  create: () => {
    const errors: number[] = []
    let lastPrediction: number | null = null
    let seen = 0
    return {
      choose: (view) => {
        for (; seen < view.downloads.length; seen++) {
          const actual = measuredThroughput(view.downloads[seen]!)
          if (lastPrediction !== null) errors.push(Math.abs(lastPrediction - actual) / actual)
        }
        const hm = harmonicMeanOfLast(view.downloads, 5)
        if (hm === null) return Math.min(1, view.video.ladderKbps.length - 1)
        lastPrediction = hm
        const maxError = Math.max(0, ...errors.slice(-5))
        const bytesPerS = hm / 8 / (1 + maxError)
        const mbps = view.video.ladderKbps.map((k) => k / 1000)
        const horizon = Math.min(5, view.segmentCount - view.index)
        const start = view.previous ?? 0
        let bestValue = Number.NEGATIVE_INFINITY
        let bestFirst = start
        // depth-first over sequences, sharing prefixes
        const walk = (depth: number, buffer: number, prev: number, value: number, first: number): void => {
          if (depth === horizon) {
            if (value > bestValue) { bestValue = value; bestFirst = first }
            return
          }
          const sizes = view.video.bytes[view.index + depth]!
          for (let r = 0; r < mbps.length; r++) {
            const download = sizes[r]! / bytesPerS
            const stall = download > buffer ? download - buffer : 0
            const next = (buffer > download ? buffer - download : 0) + view.video.segmentSeconds
            walk(depth + 1, next, r, value + mbps[r]! - 4.3 * stall - Math.abs(mbps[r]! - mbps[prev]!), depth === 0 ? r : first)
          }
        }
        walk(0, view.bufferS, start, 0, start)
        return bestFirst
      }
    }
  }
}
