import { randomBytes } from 'node:crypto'

/** Viewing session ids: ours are 22 base64url characters; players' own (CMCD `sid`, often a UUID) are accepted too. */
export const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/

export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

/**
 * Whether `value` is a session id (SESSION_ID's language), by a loop over its characters: the
 * delivery fast path asks on every request, and the regular expression cost it ten times as much.
 */
export function isSessionId (value: unknown): value is string {
  return typeof value === 'string' && isSessionIdAt(value, 0)
}

/**
 * Whether the end of `text` from `start` on is a session id: the fast path reads the one in a URL
 * where it stands, without cutting it out (a new string per request, compared the slow way).
 */
export function isSessionIdAt (text: string, start: number): boolean {
  const length = text.length - start
  if (start < 0 || length < 8 || length > 64) return false
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // 0-9, A-Z, a-z, '-', '_'
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95)) return false
  }
  return true
}
