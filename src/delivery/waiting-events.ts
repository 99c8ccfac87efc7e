import type { SessionEvent } from '../abr/session-state.js'

/** Numbers per gap event: bytes, arrivalMs, finishMs, acceptedBytes, segmentSeconds (NaN: unknown), nextArrivalMs. */
const GAP_FIELDS = 6
/** Stands in the event list for the next gap event of the number buffer. */
const GAP: SessionEvent = { kind: 'rtt', gapMs: Number.NaN }

/**
 * What delivery saw of one session since its last update, in order, until a batch applies it. A
 * segment's gap event (one per answer on the fast path) is kept as numbers in a buffer that grows
 * and is reused, not as an object: a batch waits up to a quarter of a second, and objects that
 * live that long outlast the young generation's collections and are copied, then promoted, by
 * each. The objects the session state is computed from are made when the batch is taken, and die
 * young.
 */
export class WaitingEvents {
  #events: SessionEvent[] = []
  /** Allocated at the first gap: most sessions a node holds are not being played from it. */
  #gaps = new Float64Array(0)
  #gapCount = 0

  get length (): number {
    return this.#events.length
  }

  push (event: SessionEvent): void {
    this.#events.push(event)
  }

  /** A segment's delivery, and when the next request on its connection arrived (see GapEvent). */
  pushGap (bytes: number, arrivalMs: number, finishMs: number, acceptedBytes: number, segmentSeconds: number | undefined, nextArrivalMs: number): void {
    let g = this.#gaps
    const at = this.#gapCount * GAP_FIELDS
    if (at + GAP_FIELDS > g.length) {
      const grown = new Float64Array(Math.max(8 * GAP_FIELDS, g.length * 2))
      grown.set(g)
      this.#gaps = g = grown
    }
    g[at] = bytes
    g[at + 1] = arrivalMs
    g[at + 2] = finishMs
    g[at + 3] = acceptedBytes
    g[at + 4] = segmentSeconds ?? Number.NaN
    g[at + 5] = nextArrivalMs
    this.#gapCount++
    this.#events.push(GAP)
  }

  /** The events in order, as the session state takes them; the list is empty afterwards. */
  take (): SessionEvent[] {
    const events = this.#events
    const out = new Array<SessionEvent>(events.length)
    const g = this.#gaps
    let at = 0
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!
      if (e !== GAP) {
        out[i] = e
        continue
      }
      const seconds = g[at + 4]!
      out[i] = { kind: 'gap', bytes: g[at]!, arrivalMs: g[at + 1]!, finishMs: g[at + 2]!, acceptedBytes: g[at + 3]!, mtpKbps: undefined, segmentSeconds: Number.isNaN(seconds) ? undefined : seconds, nextArrivalMs: g[at + 5]! }
      at += GAP_FIELDS
    }
    events.length = 0
    this.#gapCount = 0
    return out
  }
}
