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

/**
 * What the fast path must know of a request's header fields, from one pass over its raw names (no
 * lookups on the headers object, whose shape differs from one client to the next): a bit set of
 * DUPLICATE_HOST, CMCD and NOT_PLAIN.
 */
export function requestHeaderFlags (raw: readonly string[]): number {
  let flags = 0
  let host = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    switch (name.length) {
      case 4:
        if (named(name, 'host')) {
          if (host) flags |= DUPLICATE_HOST
          host = true
        }
        break
      case 5:
        if (named(name, 'range')) flags |= NOT_PLAIN
        break
      case 8:
        if (named(name, 'if-match')) flags |= NOT_PLAIN
        break
      case 11:
        if (named(name, 'cmcd-object') || named(name, 'cmcd-status')) flags |= CMCD
        break
      case 12:
        if (named(name, 'cmcd-request') || named(name, 'cmcd-session')) flags |= CMCD
        break
      case 13:
        if (named(name, 'if-none-match')) flags |= NOT_PLAIN
        break
      case 17:
        if (named(name, 'if-modified-since')) flags |= NOT_PLAIN
        break
      case 19:
        if (named(name, 'if-unmodified-since')) flags |= NOT_PLAIN
        break
    }
  }
  return flags
}
