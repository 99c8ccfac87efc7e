import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * Short-lived playback tokens for unlisted and private videos: `<expiry>.<mac>`, where expiry is
 * seconds since the epoch and mac the base64url HMAC-SHA256 over `<videoId>.<expiry>` with a key
 * derived for this purpose only (deriveKey(secret, 'playback')). Players cannot add headers, so
 * the token travels in `?token=`; binding it to the video id means one video's token opens no other.
 */
export interface PlaybackToken {
  token: string
  expiresAt: Date
}

export type TokenCheck = 'ok' | 'malformed' | 'expired' | 'invalid'

const TOKEN_FORMAT = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/

function mac (key: Buffer, videoId: string, expiry: number): Buffer {
  return createHmac('sha256', key).update(`${videoId}.${expiry}`).digest()
}

export function issuePlaybackToken (key: Buffer, videoId: string, ttlSeconds: number, now = Date.now()): PlaybackToken {
  const expiry = Math.floor(now / 1000) + ttlSeconds
  return {
    token: `${expiry}.${mac(key, videoId, expiry).toString('base64url')}`,
    expiresAt: new Date(expiry * 1000)
  }
}

/** Checks a token for one video; the signature is compared in constant time before the expiry is trusted. */
export function verifyPlaybackToken (key: Buffer, videoId: string, token: string, now = Date.now()): TokenCheck {
  const m = TOKEN_FORMAT.exec(token)
  if (m === null) return 'malformed'
  const expiry = Number(m[1])
  const given = Buffer.from(m[2]!, 'base64url')
  const expected = mac(key, videoId, expiry)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid'
  if (expiry * 1000 <= now) return 'expired'
  return 'ok'
}
