import type { GapEvent } from './session-state.js'

/**
 * Gap events held as numbers, GAP_FIELDS per event in this order: bytes, arrivalMs, finishMs,
 * acceptedBytes, segmentSeconds (NaN: unknown), nextArrivalMs. Delivery keeps a session's gap
 * events so until a batch is applied (one per segment answered: an object each would outlive the
 * young generation's collections), and hands a run of consecutive ones over as one event.
 */
export const GAP_FIELDS = 6

/** Consecutive gap events, oldest first: `count` of them in `fields` (GAP_FIELDS numbers each). */
export interface GapRun {
  kind: 'gaps'
  fields: Float64Array
  count: number
}

/** Writes gap event `i` of `fields` (which must have room for it). */
export function setGap (fields: Float64Array, i: number, bytes: number, arrivalMs: number, finishMs: number, acceptedBytes: number, segmentSeconds: number | undefined, nextArrivalMs: number): void {
  const at = i * GAP_FIELDS
  fields[at] = bytes
  fields[at + 1] = arrivalMs
  fields[at + 2] = finishMs
  fields[at + 3] = acceptedBytes
  fields[at + 4] = segmentSeconds ?? Number.NaN
  fields[at + 5] = nextArrivalMs
}

/** Gap event `i` of a run, as the object it stands for. */
export function gapAt (run: GapRun, i: number): GapEvent {
  const g = run.fields
  const at = i * GAP_FIELDS
  const seconds = g[at + 4]!
  return { kind: 'gap', bytes: g[at]!, arrivalMs: g[at + 1]!, finishMs: g[at + 2]!, acceptedBytes: g[at + 3]!, mtpKbps: undefined, segmentSeconds: Number.isNaN(seconds) ? undefined : seconds, nextArrivalMs: g[at + 5]! }
}
