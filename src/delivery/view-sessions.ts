import { createHash } from 'node:crypto'

/**
 * One viewing session of one video: the playback token when there is one (each is issued to one
 * viewer), otherwise the client address and user agent. Hashed so every entry costs the same.
 */
export function viewSessionKey (videoId: string, token: string | undefined, ip: string, userAgent: string | undefined): string {
  const who = token !== undefined && token !== '' ? `t:${token}` : `a:${ip}\0${userAgent ?? ''}`
  return createHash('sha256').update(videoId).update('\0').update(who).digest('base64url')
}

/**
 * Sessions seen in the last `windowMs`, so a view is counted once per session rather than once per
 * playlist or range request. Every entry lives for the same window, so insertion order is expiry
 * order and expired entries are dropped from the front as new ones arrive: no timer, and memory is
 * bounded by maxEntries (the oldest sessions are forgotten first, at worst counting a view twice).
 */
export class ViewSessions {
  readonly #windowMs: number
  readonly #maxEntries: number
  readonly #seen = new Map<string, number>()

  constructor (windowMs = 30 * 60_000, maxEntries = 200_000) {
    this.#windowMs = windowMs
    this.#maxEntries = maxEntries
  }

  /** True when this session has not been seen within the window (a new view); it is then remembered. */
  firstSight (session: string, now = Date.now()): boolean {
    for (const [key, expires] of this.#seen) {
      if (expires > now && this.#seen.size < this.#maxEntries) break
      this.#seen.delete(key)
    }
    if (this.#seen.has(session)) return false
    this.#seen.set(session, now + this.#windowMs)
    return true
  }

  get size (): number {
    return this.#seen.size
  }
}
