import { createHmac } from 'node:crypto'

// Lectern's token formats, written here from their documentation (README "Accounts and auth" and
// "Delivery"; the doc comments of src/secrets.ts and src/delivery/playback-token.ts), not imported
// from its code: a test that forges with these checks the format, not the code against itself.

/** The key for one purpose: HMAC-SHA256 keyed with the server secret over `lectern:<purpose>`. */
export function purposeKey (secret: string, purpose: 'jwt' | 'playback'): Buffer {
  return createHmac('sha256', secret).update(`lectern:${purpose}`).digest()
}

/**
 * `<expiry>.<epoch>.<mac>`: expiry in seconds since the epoch, epoch the video's access epoch, mac
 * the base64url HMAC-SHA256 of `<videoId>.<expiry>.<epoch>` under the playback key.
 */
export function forgePlaybackToken (secret: string, videoId: string, expirySeconds: number, epoch = 0): string {
  const mac = createHmac('sha256', purposeKey(secret, 'playback')).update(`${videoId}.${expirySeconds}.${epoch}`).digest('base64url')
  return `${expirySeconds}.${epoch}.${mac}`
}

/** An HS256 JWT over claims, signed with the jwt key. */
export function forgeJwt (secret: string, claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`
  return `${signed}.${createHmac('sha256', purposeKey(secret, 'jwt')).update(signed).digest('base64url')}`
}

/**
 * A user's access token as Lectern issues it: sub, role, iat and exp (one hour here). Lectern
 * accepts it only while the account exists, and goes by the account's role, not the token's.
 */
export function forgeAccessToken (secret: string, sub: string, role: 'admin' | 'teacher' | 'student' = 'teacher', ttlSeconds = 3600): string {
  const iat = Math.floor(Date.now() / 1000)
  return forgeJwt(secret, { sub, role, iat, exp: iat + ttlSeconds })
}
