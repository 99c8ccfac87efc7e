import type { PolicyFactory } from '../abr-policy.js'
import { measuredThroughput } from './measured-throughput.js'

/** hls.js's EWMA: weighted by each download's duration in seconds, with its zero-factor correction. */
class Ewma {
  #alpha: number
  #estimate = 0
  #weight = 0
  constructor (halfLifeS: number) { this.#alpha = Math.exp(Math.log(0.5) / halfLifeS) }
  sample (weightS: number, value: number): void {
    const a = Math.pow(this.#alpha, weightS)
    this.#estimate = value * (1 - a) + a * this.#estimate
    this.#weight += weightS
  }

  get estimate (): number { return this.#estimate / (1 - Math.pow(this.#alpha, this.#weight)) }
  get weight (): number { return this.#weight }
}

/**
 * hls.js's ABR (abr-controller, ewma-bandwidth-estimator): the lower of two EWMAs of 3 s and 9 s
 * half-life, 500 kbit/s before any sample; a rung at or below the current one is kept if 0.95 of the
 * estimate carries it, a higher one needs 0.7 of it, and the fetch must end before the buffer
 * (plus hls.js's 4 s of tolerated starvation) runs out.
 */
export const hlsjsEwma: PolicyFactory = {
  name: 'hls.js (dual EWMA)',
  create: () => {
    const fast = new Ewma(3)
    const slow = new Ewma(9)
    let seen = 0
    return {
      choose: (view) => {
        for (; seen < view.downloads.length; seen++) {
          const d = view.downloads[seen]!
          const seconds = Math.max(0.005, d.endS - d.requestS)
          const bps = measuredThroughput(d)
          fast.sample(seconds, bps)
          slow.sample(seconds, bps)
        }
        const estimate = fast.weight > 0.001 ? Math.min(fast.estimate, slow.estimate) : 500_000
        const current = view.previous ?? 0
        const rates = view.video.ladderKbps
        for (let i = rates.length - 1; i >= 0; i--) {
          const adjusted = (i <= current ? 0.95 : 0.7) * estimate
          const bitrate = rates[i]! * 1000
          const fetch = (bitrate * view.video.segmentSeconds) / adjusted
          if (adjusted > bitrate && fetch < view.bufferS + 4) return i
        }
        return 0
      }
    }
  }
}
