import t from 'tap'
import { createHmac } from 'node:crypto'
import { issuePlaybackToken, verifyPlaybackToken } from '../../src/delivery/playback-token.js'
import { deriveKey } from '../../src/secrets.js'
import { forgePlaybackToken, purposeKey } from '../helpers/forge.js'

const key = deriveKey('x'.repeat(48), 'playback')
const now = Date.UTC(2026, 0, 1)

t.test('a fresh token opens its own video until it expires', async (t) => {
  const { token, expiresAt } = issuePlaybackToken(key, 'video-a', 0, 600, now)
  t.equal(expiresAt.getTime(), now + 600_000)
  t.match(token, /^\d+\.0\.[A-Za-z0-9_-]{43}$/)
  t.equal(verifyPlaybackToken(key, 'video-a', 0, token, now), 'ok')
  t.equal(verifyPlaybackToken(key, 'video-a', 0, token, now + 599_000), 'ok')
  t.equal(verifyPlaybackToken(key, 'video-a', 0, token, now + 600_000), 'expired')
})

t.test('a token from an earlier access epoch is revoked, whether or not it has expired', async (t) => {
  const { token } = issuePlaybackToken(key, 'video-a', 2, 600, now)
  t.equal(verifyPlaybackToken(key, 'video-a', 2, token, now), 'ok')
  t.equal(verifyPlaybackToken(key, 'video-a', 3, token, now), 'revoked')
  t.equal(verifyPlaybackToken(key, 'video-a', 3, token, now + 3600_000), 'revoked')
  t.equal(verifyPlaybackToken(key, 'video-a', 1, token, now), 'ahead', 'a token newer than the copy of the video it is checked against')
  // Rewriting the epoch in the token breaks its signature.
  const [expiry, , sig] = token.split('.') as [string, string, string]
  t.equal(verifyPlaybackToken(key, 'video-a', 3, `${expiry}.3.${sig}`, now), 'invalid')
})

t.test('another video, another key, or a tampered token is refused', async (t) => {
  const { token } = issuePlaybackToken(key, 'video-a', 0, 600, now)
  t.equal(verifyPlaybackToken(key, 'video-b', 0, token, now), 'invalid')
  t.equal(verifyPlaybackToken(deriveKey('y'.repeat(48), 'playback'), 'video-a', 0, token, now), 'invalid')
  t.equal(verifyPlaybackToken(deriveKey('x'.repeat(48), 'jwt'), 'video-a', 0, token, now), 'invalid')
  const [expiry, epoch, sig] = token.split('.') as [string, string, string]
  // Pushing the expiry forward breaks the signature.
  t.equal(verifyPlaybackToken(key, 'video-a', 0, `${Number(expiry) + 3600}.${epoch}.${sig}`, now), 'invalid')
  const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11)
  t.equal(verifyPlaybackToken(key, 'video-a', 0, `${expiry}.${epoch}.${flipped}`, now), 'invalid')
  for (const bad of ['', 'abc', `${expiry}.${sig}`, `${expiry}.${epoch}.`, `.${epoch}.${sig}`, `${expiry}..${sig}`, `${expiry}.${epoch}.${sig}x`,
    `-1.${epoch}.${sig}`, `${expiry}.-1.${sig}`, `${expiry}.${epoch}.${sig.slice(1)}`]) {
    t.equal(verifyPlaybackToken(key, 'video-a', 0, bad, now), 'malformed', JSON.stringify(bad))
  }
})

t.test('an expired token with a valid signature says expired, a forged one never does', async (t) => {
  const { token } = issuePlaybackToken(key, 'video-a', 0, 1, now - 10_000)
  t.equal(verifyPlaybackToken(key, 'video-a', 0, token, now), 'expired')
  t.equal(verifyPlaybackToken(key, 'video-b', 0, token, now), 'invalid')
})

t.test('tokens follow the documented format: independent vectors', async (t) => {
  const secret = 'x'.repeat(48)
  // Computed once outside Node (Python's hmac) from the format: key = HMAC-SHA256(secret,
  // "lectern:playback"), token = "<expiry>.<epoch>.<base64url HMAC-SHA256(key, "<id>.<expiry>.<epoch>")>".
  const vector = '1767226200.0.xlqhWhablGCpeCcUQv3NpVSF5oN5sFX_kGpAfnXDvSQ'
  const vector3 = '1767226200.3.2rnVzb356E0CPzUs5dC_yj1GUflZ2hNxDyUpFiE7eXc'
  t.ok(key.equals(createHmac('sha256', secret).update('lectern:playback').digest()), 'the playback key is HMAC-SHA256(secret, "lectern:playback")')
  t.equal(issuePlaybackToken(key, 'video-a', 0, 600, now).token, vector, 'an issued token is the fixed vector')
  t.equal(issuePlaybackToken(key, 'video-a', 3, 600, now).token, vector3, 'and at access epoch 3')
  t.equal(forgePlaybackToken(secret, 'video-a', 1767226200), vector, 'and what the test helper forges')
  t.equal(forgePlaybackToken(secret, 'video-a', 1767226200, 3), vector3)
  t.equal(verifyPlaybackToken(key, 'video-a', 0, vector, now), 'ok')
  t.equal(verifyPlaybackToken(key, 'video-a', 3, vector3, now), 'ok')
  t.equal(verifyPlaybackToken(purposeKey(secret, 'playback'), 'video-a', 0, forgePlaybackToken(secret, 'video-a', 1767229200), now), 'ok', 'a token forged here for another expiry verifies')
  t.equal(verifyPlaybackToken(key, 'video-a', 0, forgePlaybackToken('y'.repeat(48), 'video-a', 1767229200), now), 'invalid', 'one forged with another secret does not')
})
