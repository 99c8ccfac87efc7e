import type { PolicyFactory } from '../abr-policy.js'
import { measuredThroughput } from './measured-throughput.js'

/**
 * BOLA as dash.js runs it (BolaRule, BOLA-O): utilities ln(bitrate / lowest) + 1, a buffer target
 * of max(18 s, 10 s + 2 s per rung), Vp and gp set so the lowest rung is chosen up to 10 s and the
 * top one at the target; the rung maximising (Vp (utility + gp) - buffer) / bitrate. Startup and any
 * step up are capped by what 0.9 of the recent throughput (mean of the last 3) carries, as BOLA-O
 * does against oscillation. (dash.js also pauses requests above the target; this player's 60 s cap
 * stands in for that.)
 */
export const bola: PolicyFactory = {
  name: 'BOLA (dash.js)',
  create: () => ({
    choose: (view) => {
      const rates = view.video.ladderKbps.map((k) => k * 1000)
      const n = rates.length
      const minBuffer = 10
      const target = Math.max(18, minBuffer + 2 * n)
      const utilities = rates.map((r) => Math.log(r / rates[0]!) + 1)
      const gp = (utilities[n - 1]! - 1) / (target / minBuffer - 1)
      const vp = minBuffer / gp
      const recent = view.downloads.slice(-3)
      const throughput = recent.length === 0 ? null : 0.9 * recent.reduce((s, d) => s + measuredThroughput(d), 0) / recent.length
      const forThroughput = (bps: number) => {
        let i = 0
        for (let r = 0; r < n; r++) if (rates[r]! <= bps) i = r
        return i
      }
      if (view.previous === null) return throughput === null ? 0 : forThroughput(throughput)
      let best = 0
      let bestScore = Number.NEGATIVE_INFINITY
      for (let r = 0; r < n; r++) {
        const score = (vp * (utilities[r]! + gp) - view.bufferS) / rates[r]!
        if (score > bestScore) { bestScore = score; best = r }
      }
      if (best > view.previous && throughput !== null) {
        const cap = forThroughput(throughput)
        if (best > cap) best = Math.max(cap, view.previous)
      }
      return best
    }
  })
}
