import type { PolicyFactory } from '../abr-policy.js'

/**
 * BBA-0 (Huang et al., SIGCOMM 2014): a rate map from the buffer, lowest rung up to the reservoir
 * (5 s), rising linearly across the cushion (10 s) to the top rung; the rung changes only when the
 * map crosses the next rung up or down.
 */
export function bufferBased (reservoirS = 5, cushionS = 10): PolicyFactory {
  return {
    name: 'buffer-based (BBA)',
    create: () => ({
      choose: (view) => {
        const rates = view.video.ladderKbps
        const top = rates.length - 1
        const buffer = view.bufferS
        const prev = view.previous ?? 0
        if (buffer <= reservoirS) return 0
        if (buffer >= reservoirS + cushionS) return top
        const f = rates[0]! + ((buffer - reservoirS) / cushionS) * (rates[top]! - rates[0]!)
        const plus = Math.min(top, prev + 1)
        const minus = Math.max(0, prev - 1)
        if (prev < top && f >= rates[plus]!) {
          let i = 0
          for (let r = 0; r <= top; r++) if (rates[r]! < f) i = r
          return i
        }
        if (prev > 0 && f <= rates[minus]!) {
          for (let r = 0; r <= top; r++) if (rates[r]! > f) return r
          return top
        }
        return prev
      }
    })
  }
}
