/** What the choice of a session's next segment rests on. */
export interface ChoiceInput {
  /** Rung bitrates in bits/s (the playlist's BANDWIDTH), ascending. */
  ladderBps: number[]
  /** The rungs' AVERAGE-BANDWIDTH, same order, when known: a segment's expected size. */
  averageBps?: number[] | undefined
  /** The session's bandwidth estimate, bits/s; null when nothing is known. */
  estimateBps: number | null
  /** Seconds of media the player holds (CMCD `bl`, or the server's inference); null when unknown. */
  bufferSeconds: number | null
  /** Index of the rung served last; null before the first segment. */
  current: number | null
  segmentSeconds: number
}

// With nothing known, start below what a 3G phone sustains (1.5 Mbit/s), not at the top rung.
const SAFE_START_BPS = 1_500_000
// Safety margin: a rung is chosen for what 90% of the estimate carries.
const MARGIN = 0.9
// Hysteresis: the rung being served is kept while the whole estimate still carries it (between 90%
// and 100% of the estimate nothing moves), so noise around a rung's rate does not flap it.
const KEEP = 1
// Below this many seconds of buffer after the next download, the rule steps down rather than keep.
const LOW_BUFFER_S = 4
// A step up is one rung at a time and only with a buffer that can absorb a wrong guess (cautious).
const UP_BUFFER_S = 8

/** With no estimate: the highest rung under ~1.5 Mbit/s (the lowest if none is); else the highest that 90% of the estimate carries. */
export function safeStartIndex (ladderBps: number[], estimateBps: number | null): number {
  const limit = estimateBps !== null && estimateBps > 0 ? estimateBps * MARGIN : SAFE_START_BPS
  return highestUnder(ladderBps, limit)
}

function highestUnder (rates: number[], limit: number): number {
  let index = 0
  for (let i = 0; i < rates.length; i++) if (rates[i]! <= limit) index = i
  return index
}

/** The rung for the session's next segment (an index into ladderBps). */
export function chooseRendition (input: ChoiceInput): number {
  const { ladderBps, estimateBps, segmentSeconds } = input
  const n = ladderBps.length
  if (n <= 1) return 0
  const current = input.current !== null && input.current >= 0 && input.current < n ? input.current : null
  if (estimateBps === null || !(estimateBps > 0)) return current ?? safeStartIndex(ladderBps, null)
  const rates = input.averageBps?.length === n ? input.averageBps : ladderBps
  const sustainable = highestUnder(rates, estimateBps * MARGIN)
  if (current === null) return sustainable
  const buffer = input.bufferSeconds ?? segmentSeconds
  const download = (rung: number) => (rates[rung]! * segmentSeconds) / estimateBps
  if (sustainable > current) {
    return buffer >= UP_BUFFER_S ? current + 1 : current
  }
  if (sustainable === current) return current
  // The estimate no longer carries the current rung with the margin: keep it only inside the band
  // and while the buffer stays comfortable; otherwise step down at once, as far as needed.
  if (rates[current]! <= estimateBps * KEEP && buffer - download(current) >= LOW_BUFFER_S) return current
  let rung = sustainable
  while (rung > 0 && buffer - download(rung) < 0) rung--
  return rung
}
