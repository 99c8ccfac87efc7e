import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * Short-lived playback tokens for unlisted and private videos: `<expiry>.<epoch>.<mac>`, where
 * expiry is seconds since the epoch, epoch the video's access epoch when the token was issued, and
 * mac the base64url HMAC-SHA256 over `<videoId>.<expiry>.<epoch>` with a key derived for this
 * purpose only (deriveKey(secret, 'playback')). Players cannot add headers, so the token travels
 * in `?token=`; binding it to the video id means one video's token opens no other, and binding it
 * to the access epoch (bumped when the visibility changes or the video is transcoded again) means
 * every token issued before such a change stops working as soon as the change is seen.
 */
export interface PlaybackToken {
  token: string
  expiresAt: Date
}

/** 'ahead': signed for a later epoch than the one given (the caller's copy of the video is older than the token). */
export type TokenCheck = 'ok' | 'malformed' | 'invalid' | 'revoked' | 'ahead' | 'expired'

const TOKEN_FORMAT = /^(\d{1,12})\.(\d{1,9})\.([A-Za-z0-9_-]{43})$/

function mac (key: Buffer, videoId: string, expiry: number, epoch: number): Buffer {
  return createHmac('sha256', key).update(`${videoId}.${expiry}.${epoch}`).digest()
}

export function issuePlaybackToken (key: Buffer, videoId: string, epoch: number, ttlSeconds: number, now = Date.now()): PlaybackToken {
  const expiry = Math.floor(now / 1000) + ttlSeconds
  return {
    token: `${expiry}.${epoch}.${mac(key, videoId, expiry, epoch).toString('base64url')}`,
    expiresAt: new Date(expiry * 1000)
  }
}

/**
 * Checks a token for one video at its current access epoch. The signature is compared in constant
 * time before anything in the token is trusted; then an earlier epoch is 'revoked' (a later one
 * 'ahead'), then the expiry.
 */
export function verifyPlaybackToken (key: Buffer, videoId: string, epoch: number, token: string, now = Date.now()): TokenCheck {
  const m = TOKEN_FORMAT.exec(token)
  if (m === null) return 'malformed'
  const expiry = Number(m[1])
  const tokenEpoch = Number(m[2])
  const given = Buffer.from(m[3]!, 'base64url')
  const expected = mac(key, videoId, expiry, tokenEpoch)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid'
  if (tokenEpoch < epoch) return 'revoked'
  if (tokenEpoch > epoch) return 'ahead'
  if (expiry * 1000 <= now) return 'expired'
  return 'ok'
}
