/**
 * What a player tells us about itself through CMCD (CTA-5004): in the `CMCD` query parameter or
 * in the CMCD-Request/-Object/-Status/-Session headers. Only the keys the estimator uses are
 * kept; anything malformed is dropped silently (a bad CMCD value is never an error).
 */
export interface Cmcd {
  /** session id */
  sid?: string
  /** buffer length, ms */
  bl?: number
  /** measured throughput, kbit/s */
  mtp?: number
  /** encoded bitrate of the requested object, kbit/s */
  br?: number
  /** object duration, ms */
  d?: number
  /** object type: m manifest, a audio, v video, av muxed, i init, c caption, ... */
  ot?: string
}

const HEADERS = ['cmcd-request', 'cmcd-object', 'cmcd-status', 'cmcd-session'] as const
const NUMERIC = new Set(['bl', 'mtp', 'br', 'd'])
const MAX_LENGTH = 4096

/** Parses one CMCD payload (`key=value,key2="str",flag`) into the keys Lectern reads. */
export function parseCmcdPayload (payload: string, into: Cmcd = {}): Cmcd {
  if (payload.length > MAX_LENGTH) return into
  for (const part of splitTopLevel(payload)) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const key = part.slice(0, eq).trim()
    const raw = part.slice(eq + 1).trim()
    if (NUMERIC.has(key)) {
      if (!/^\d+(\.\d+)?$/.test(raw)) continue
      const n = Number(raw)
      if (Number.isFinite(n) && n >= 0) into[key as 'bl' | 'mtp' | 'br' | 'd'] = n
    } else if (key === 'sid') {
      const m = /^"([^"\\]{1,64})"$/.exec(raw)
      if (m !== null) into.sid = m[1]
    } else if (key === 'ot') {
      if (/^[a-z]{1,2}$/.test(raw)) into.ot = raw
    }
  }
  return into
}

/** Splits on commas outside double quotes. */
function splitTopLevel (s: string): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 34) quoted = !quoted
    else if (c === 44 && !quoted) {
      parts.push(s.slice(start, i))
      start = i + 1
    }
  }
  parts.push(s.slice(start))
  return parts
}

/** CMCD from a request: the query's `CMCD` value (already decoded) and the four CMCD headers. */
export function readCmcd (query: string | undefined, headers: Record<string, string | string[] | undefined>): Cmcd | undefined {
  let found: Cmcd | undefined
  if (typeof query === 'string' && query !== '') found = parseCmcdPayload(query)
  for (const name of HEADERS) {
    const v = headers[name]
    if (typeof v === 'string' && v !== '') found = parseCmcdPayload(v, found ?? {})
  }
  return found
}
