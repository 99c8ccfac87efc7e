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
  if (typeof value !== 'string' || value.length < 8 || value.length > 64) return false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    // 0-9, A-Z, a-z, '-', '_'
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95)) return false
  }
  return true
}
