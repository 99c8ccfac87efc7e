import { createHash, randomBytes } from 'node:crypto'
import type { Database } from './collection.js'

export const SIGNUPS = 'signups'

/**
 * One sign-up mail sent. For an email without an account it is a pending sign-up: the scrypt hash
 * of the chosen password (never the password) waiting for its link to be followed. For an email
 * that has one, it is only the record of the "you already have an account" mail (no hash), kept
 * so that both cases cost the same write and count alike towards the mails an address may get.
 * Only a SHA-256 of the link's code is stored.
 */
export interface Signup {
  /** sha256 of the code, hex */
  _id: string
  email: string
  name: string
  /** false: the address already had an account; nothing to confirm */
  pending: boolean
  passwordHash: string | null
  passwordSalt: string | null
  createdAt: Date
  expiresAt: Date
  usedAt: Date | null
}

/** 256 random bits, base64url. */
const CODE = /^[A-Za-z0-9_-]{43}$/
const idOf = (code: string): string => createHash('sha256').update(code).digest('hex')

export interface NewSignup {
  email: string
  name: string
  password: { hash: string, salt: string } | null
  ttlSeconds: number
}

/** Records a sign-up mail and answers the code for its link. */
export async function createSignup (db: Database, input: NewSignup, now = new Date()): Promise<{ code: string, signup: Signup }> {
  const code = randomBytes(32).toString('base64url')
  const signup: Signup = {
    _id: idOf(code),
    email: input.email,
    name: input.name,
    pending: input.password !== null,
    passwordHash: input.password?.hash ?? null,
    passwordSalt: input.password?.salt ?? null,
    createdAt: now,
    expiresAt: new Date(now.getTime() + input.ttlSeconds * 1000),
    usedAt: null
  }
  await db.collection<Signup>(SIGNUPS).insertOne(signup)
  return { code, signup }
}

/**
 * Takes a pending sign-up for its one confirmation (atomic: of two requests with one code, one
 * wins). Null when the code is unknown, used, expired, or belongs to an "already has an account" mail.
 */
export async function takeSignup (db: Database, code: string, now = new Date()): Promise<Signup | null> {
  if (!CODE.test(code)) return null
  return await db.collection<Signup>(SIGNUPS).findOneAndUpdate(
    { _id: idOf(code), usedAt: null, expiresAt: { $gt: now }, pending: true },
    { $set: { usedAt: now } },
    { returnDocument: 'after' })
}

/** Sign-up mails sent to an address since a time (to bound how many one address gets). */
export async function countSignupsSince (db: Database, email: string, since: Date): Promise<number> {
  return await db.collection<Signup>(SIGNUPS).countDocuments({ email, createdAt: { $gt: since } })
}

/** Drops sign-ups that have run out (now and then; an expired one is refused anyway). */
export async function pruneSignups (db: Database, now = new Date()): Promise<number> {
  return await db.collection<Signup>(SIGNUPS).deleteMany({ expiresAt: { $lt: now } })
}
