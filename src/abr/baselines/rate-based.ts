import type { PolicyFactory } from '../abr-policy.js'
import { harmonicMeanOfLast } from './measured-throughput.js'

/** Rate-based (as in the Pensieve paper's baseline): the highest rung under the harmonic mean of the last 5 measured throughputs; the lowest before any. */
export const rateBased: PolicyFactory = {
  name: 'rate-based (HM of 5)',
  create: () => ({
    choose: (view) => {
      const predicted = harmonicMeanOfLast(view.downloads, 5)
      if (predicted === null) return 0
      let rung = 0
      view.video.ladderKbps.forEach((kbps, i) => { if (kbps * 1000 <= predicted) rung = i })
      return rung
    }
  })
}
