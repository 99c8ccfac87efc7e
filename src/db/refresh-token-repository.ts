import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Database } from './collection.js'

export const REFRESH_TOKENS = 'refresh_tokens'

/**
 * One refresh token. Only a hash of its secret is stored. Tokens of one sign-in form a family:
 * each refresh uses its token up and gives a new one of the same family; presenting a used token
 * again (after a short grace for two tabs refreshing at once) means it was copied, and ends the
 * whole family.
 */
export interface RefreshTokenRecord {
  _id: string
  userId: string
  family: string
  /** sha256 of the secret part, hex */
  hash: string
  createdAt: Date
  expiresAt: Date
  usedAt: Date | null
}

const FORMAT = /^([0-9a-f]{24})\.([A-Za-z0-9_-]{43})$/

const hashOf = (secret: string): string => createHash('sha256').update(secret).digest('hex')

/** Issues a token for a user: `<id>.<secret>` (the id is 24 hex characters, the secret 32 random bytes, base64url). */
export async function issueRefreshToken (db: Database, userId: string, ttlSeconds: number, family?: string): Promise<{ token: string, expiresAt: Date }> {
  const id = randomBytes(12).toString('hex')
  const secret = randomBytes(32).toString('base64url')
  const now = new Date()
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000)
  await db.collection<RefreshTokenRecord>(REFRESH_TOKENS).insertOne({
    _id: id, userId, family: family ?? id, hash: hashOf(secret), createdAt: now, expiresAt, usedAt: null
  })
  return { token: `${id}.${secret}`, expiresAt }
}

/** The stored record a token names, if its secret matches (compared in constant time). */
export async function findRefreshToken (db: Database, token: string): Promise<RefreshTokenRecord | null> {
  const m = FORMAT.exec(token)
  if (m === null) return null
  const record = await db.collection<RefreshTokenRecord>(REFRESH_TOKENS).findOne({ _id: m[1]! })
  if (record === null) return null
  const given = Buffer.from(hashOf(m[2]!), 'hex')
  const stored = Buffer.from(record.hash, 'hex')
  return given.length === stored.length && timingSafeEqual(given, stored) ? record : null
}

/** Marks a token used; false if it already was (by a concurrent refresh, or before). */
export async function useRefreshToken (db: Database, id: string): Promise<boolean> {
  return await db.collection<RefreshTokenRecord>(REFRESH_TOKENS)
    .findOneAndUpdate({ _id: id, usedAt: null }, { $set: { usedAt: new Date() } }) !== null
}

export async function revokeRefreshFamily (db: Database, family: string): Promise<number> {
  return await db.collection<RefreshTokenRecord>(REFRESH_TOKENS).deleteMany({ family })
}

export async function revokeRefreshTokensOf (db: Database, userId: string): Promise<number> {
  return await db.collection<RefreshTokenRecord>(REFRESH_TOKENS).deleteMany({ userId })
}

/** Drops tokens that have run out (called now and then; an expired token is refused anyway). */
export async function pruneRefreshTokens (db: Database, now = new Date()): Promise<number> {
  return await db.collection<RefreshTokenRecord>(REFRESH_TOKENS).deleteMany({ expiresAt: { $lt: now } })
}
