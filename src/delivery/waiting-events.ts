import { GAP_FIELDS, setGap, type GapRun } from '../abr/gap-run.js'
import type { SessionEvent } from '../abr/session-state.js'

/** Stands in the event list for the next gap event of the number buffer. */
const GAP: SessionEvent = { kind: 'rtt', gapMs: Number.NaN }
const NO_GAPS = new Float64Array(0)

/**
 * What delivery saw of one session since its last update, in order, until a batch applies it. A
 * segment's gap event (one per answer on the fast path) is kept as numbers in a buffer, not as an
 * object: a batch waits up to a quarter of a second, and objects that live that long outlast the
 * young generation's collections and are copied, then promoted, by each. A batch takes the buffer
 * with it, each run of consecutive gap events as one GapRun, of which applying reads only the
 * newest few.
 */
export class WaitingEvents {
  #events: SessionEvent[] = []
  /** Allocated at the first gap: most sessions a node holds are not being played from it. */
  #gaps = NO_GAPS
  #gapCount = 0
  /** The numbers the last batch took: the next one likely needs as many. */
  #lastGapsLength = 0

  get length (): number {
    return this.#events.length
  }

  push (event: SessionEvent): void {
    this.#events.push(event)
  }

  /** A segment's delivery, and when the next request on its connection arrived (see GapEvent). */
  pushGap (bytes: number, arrivalMs: number, finishMs: number, acceptedBytes: number, segmentSeconds: number | undefined, nextArrivalMs: number): void {
    let g = this.#gaps
    if ((this.#gapCount + 1) * GAP_FIELDS > g.length) {
      const grown = new Float64Array(Math.max(8 * GAP_FIELDS, this.#lastGapsLength, g.length * 2))
      grown.set(g)
      this.#gaps = g = grown
    }
    setGap(g, this.#gapCount++, bytes, arrivalMs, finishMs, acceptedBytes, segmentSeconds, nextArrivalMs)
    this.#events.push(GAP)
  }

  /**
   * The events in order, as the session state takes them, consecutive gap events as one GapRun (on
   * the buffer, which goes with them: an update may apply them later); none are waiting afterwards.
   */
  take (): SessionEvent[] {
    const events = this.#events
    const out: SessionEvent[] = []
    const g = this.#gaps
    let at = 0
    for (let i = 0; i < events.length;) {
      const e = events[i]!
      if (e !== GAP) {
        out.push(e)
        i++
        continue
      }
      let count = 0
      while (i < events.length && events[i] === GAP) {
        count++
        i++
      }
      const run: GapRun = { kind: 'gaps', fields: g.subarray(at * GAP_FIELDS, (at + count) * GAP_FIELDS), count }
      out.push(run)
      at += count
    }
    events.length = 0
    if (this.#gapCount > 0) {
      this.#lastGapsLength = this.#gapCount * GAP_FIELDS
      this.#gaps = NO_GAPS
      this.#gapCount = 0
    }
    return out
  }
}
