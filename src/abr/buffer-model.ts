/**
 * A session's playback buffer as the server infers it from segment request timing, as plain JSON:
 * media seconds delivered minus wall time since playback started, floored at zero at every step (a
 * player whose buffer runs dry stalls, it does not play ahead).
 *
 * A player fetching one segment at a time asks for the next only once the previous one arrived
 * whole, so a segment is counted when the next request arrives ('finish' comes earlier than the
 * player's receipt by up to the send buffer's worth and would overstate the buffer). A buffer the
 * player reports (CMCD `bl`) replaces the inference.
 */
export interface BufferModelState {
  /** Seconds buffered at `atMs`, counting only segments known to have arrived. */
  seconds: number
  /** When `seconds` was last set; null until a segment is known to have arrived. */
  atMs: number | null
  /** Media seconds of the segment requested last, not yet known to have arrived. */
  pendingSeconds: number
  /** Arrival of the request for the pending segment. */
  pendingAtMs: number | null
}

export function newBufferModel (): BufferModelState {
  return { seconds: 0, atMs: null, pendingSeconds: 0, pendingAtMs: null }
}

/** The inferred buffer at `nowMs`, seconds (never below zero); null before any segment is known to have arrived. */
export function bufferSeconds (state: BufferModelState, nowMs: number): number | null {
  if (state.atMs === null) return null
  return Math.max(0, state.seconds - Math.max(0, nowMs - state.atMs) / 1000)
}

/**
 * The state after a request for a segment of `segmentSeconds` arrived at `arrivalMs` (the input is
 * not changed): the segment requested before it has arrived by now. `reportedBufferMs` is the
 * player's own CMCD `bl` sent with this request, when it sent one.
 */
export function onSegment (state: BufferModelState, arrivalMs: number, segmentSeconds: number, reportedBufferMs?: number | undefined): BufferModelState {
  // Requests may be reported out of order (updates queue on 'finish'); time never runs backwards.
  const at = state.atMs === null ? arrivalMs : Math.max(state.atMs, arrivalMs)
  let seconds: number
  let atMs: number | null
  if (reportedBufferMs !== undefined && Number.isFinite(reportedBufferMs) && reportedBufferMs >= 0) {
    seconds = reportedBufferMs / 1000
    atMs = at
  } else if (state.pendingAtMs !== null) {
    seconds = (bufferSeconds(state, at) ?? 0) + state.pendingSeconds
    atMs = at
  } else {
    seconds = state.seconds
    atMs = state.atMs
  }
  return { seconds, atMs, pendingSeconds: Math.max(0, segmentSeconds), pendingAtMs: arrivalMs }
}
