/**
 * A throughput trace as the simulator uses it: piecewise-constant rates, looped when a session
 * outlives it. `cumBits[i]` is what the link delivered from the trace's start to `startsS[i]`; the
 * last entry is one whole period's worth.
 */
export interface NetworkTrace {
  name: string
  startsS: Float64Array
  bitsPerS: Float64Array
  cumBits: Float64Array
  periodS: number
}

// Of what the link carries, the share that is payload (TCP/IP headers take the rest), as Pensieve's simulator counts.
export const PAYLOAD_SHARE = 0.95

/**
 * Parses the traces' format: one `time_seconds throughput_Mbit/s` pair a line, times increasing;
 * each rate holds until the next line, the last one for the median step. Times are shifted to
 * start at zero. Blank lines are skipped; anything else malformed throws.
 */
export function parseTrace (text: string, name = 'trace'): NetworkTrace {
  const times: number[] = []
  const rates: number[] = []
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length === 1 && fields[0] === '') continue
    const time = Number(fields[0])
    const mbps = Number(fields[1])
    if (fields.length < 2 || !Number.isFinite(time) || !Number.isFinite(mbps) || mbps < 0) throw new Error(`${name}: bad trace line "${line}"`)
    if (times.length > 0 && time <= times[times.length - 1]!) throw new Error(`${name}: times must increase ("${line}")`)
    times.push(time)
    rates.push(mbps)
  }
  if (times.length === 0) throw new Error(`${name}: empty trace`)
  const steps = times.slice(1).map((time, i) => time - times[i]!).sort((a, b) => a - b)
  const lastStep = steps.length > 0 ? steps[Math.floor(steps.length / 2)]! : 1
  const n = times.length
  const startsS = new Float64Array(n)
  const bitsPerS = new Float64Array(n)
  const cumBits = new Float64Array(n + 1)
  for (let i = 0; i < n; i++) {
    startsS[i] = times[i]! - times[0]!
    bitsPerS[i] = rates[i]! * 1e6 * PAYLOAD_SHARE
  }
  const periodS = startsS[n - 1]! + lastStep
  for (let i = 0; i < n; i++) {
    const end = i + 1 < n ? startsS[i + 1]! : periodS
    cumBits[i + 1] = cumBits[i]! + bitsPerS[i]! * (end - startsS[i]!)
  }
  return { name, startsS, bitsPerS, cumBits, periodS }
}

/** Bits the link delivered from time 0 to `timeS` (the trace looping). */
export function bitsBy (trace: NetworkTrace, timeS: number): number {
  const { startsS, bitsPerS, cumBits, periodS } = trace
  const n = startsS.length
  const loops = Math.floor(timeS / periodS)
  const tau = timeS - loops * periodS
  let lo = 0
  let hi = n - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (startsS[mid]! <= tau) lo = mid
    else hi = mid - 1
  }
  return loops * cumBits[n]! + cumBits[lo]! + (tau - startsS[lo]!) * bitsPerS[lo]!
}

/** The first time at which `bitsBy` reaches `bits`. */
export function timeOfBits (trace: NetworkTrace, bits: number): number {
  const { startsS, bitsPerS, cumBits, periodS } = trace
  const n = startsS.length
  const period = cumBits[n]!
  if (!(period > 0)) return Number.POSITIVE_INFINITY
  if (bits <= 0) return 0
  let loops = Math.floor(bits / period)
  let rem = bits - loops * period
  if (rem === 0) {
    loops--
    rem = period
  }
  // the first piece whose end reaches rem
  let lo = 0
  let hi = n - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (cumBits[mid + 1]! >= rem) hi = mid
    else lo = mid + 1
  }
  return loops * periodS + startsS[lo]! + (rem - cumBits[lo]!) / bitsPerS[lo]!
}

/** Seconds the link takes to deliver `bytes` starting at `startS`. */
export function transferSeconds (trace: NetworkTrace, startS: number, bytes: number): number {
  if (bytes <= 0) return 0
  return timeOfBits(trace, bitsBy(trace, startS) + bytes * 8) - startS
}
