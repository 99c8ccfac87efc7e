/** More than one Host field (RFC 9112 section 3.2): the router answers 400. */
export const DUPLICATE_HOST = 1
/** A CMCD header (CMCD-Request, -Object, -Status or -Session): what the player says, read by the router. */
export const CMCD = 2
/**
 * A Range or a precondition (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since): the
 * answer may be other than a plain 200 (see isPlainRequest, which asks the same of Node's headers).
 */
export const NOT_PLAIN = 4

/** Whether `name` is `lower` in any case. `lower` is lower-case letters and '-', and `name` a header name (a token, RFC 9110), so OR-ing 0x20 folds only letters onto it. */
function named (name: string, lower: string): boolean {
  if (name.length !== lower.length) return false
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false
  return true
}

/** The fields that set a flag (Host only when it comes twice), by the length of their names. */
const FIELDS_BY_LENGTH: Array<Array<readonly [string, number]>> = []
for (const [name, flag] of [
  ['host', DUPLICATE_HOST], ['range', NOT_PLAIN], ['if-match', NOT_PLAIN], ['if-none-match', NOT_PLAIN],
  ['if-modified-since', NOT_PLAIN], ['if-unmodified-since', NOT_PLAIN],
  ['cmcd-request', CMCD], ['cmcd-object', CMCD], ['cmcd-status', CMCD], ['cmcd-session', CMCD]
] as const) (FIELDS_BY_LENGTH[name.length] ??= []).push([name, flag])

/**
 * What the fast path must know of a request's header fields, from one pass over its raw names (no
 * lookups on the headers object, whose shape differs from one client to the next): a bit set of
 * DUPLICATE_HOST, CMCD and NOT_PLAIN.
 */
export function requestHeaderFlags (raw: readonly string[]): number {
  let flags = 0
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const fields = FIELDS_BY_LENGTH[name.length]
    if (fields === undefined) continue
    for (const [lower, flag] of fields) {
      if (!named(name, lower)) continue
      if (flag !== DUPLICATE_HOST) flags |= flag
      else if (++hosts > 1) flags |= DUPLICATE_HOST
      break
    }
  }
  return flags
}
