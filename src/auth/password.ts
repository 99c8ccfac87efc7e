import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

// scrypt with N=2^15, r=8, p=1: about 32 MiB and tens of milliseconds per hash, the OWASP
// baseline. maxmem must be raised above Node's 32 MiB default for N=2^15.
const PARAMS: ScryptOptions = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
const KEY_LENGTH = 64
const SALT_BYTES = 16

export const MIN_PASSWORD_LENGTH = 10
/** scrypt itself takes any length; a ceiling keeps one request from costing much more than another. */
export const MAX_PASSWORD_LENGTH = 1024

export interface PasswordHash {
  /** hex */
  hash: string
  /** hex, per user */
  salt: string
}

function derive (password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, PARAMS, (err, key) => {
      if (err) reject(err)
      else resolve(key)
    })
  })
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword (password: string): Promise<PasswordHash> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt)
  return { hash: key.toString('hex'), salt: salt.toString('hex') }
}

/** Compares in constant time; a malformed stored hash is a mismatch, never a throw. */
export async function verifyPassword (password: string, stored: PasswordHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'hex')
  const key = await derive(password, Buffer.from(stored.salt, 'hex'))
  return expected.length === key.length && timingSafeEqual(expected, key)
}

let dummy: Promise<PasswordHash> | undefined

/**
 * Spends the same scrypt work as verifyPassword and answers false, so that a login for an email
 * that does not exist takes as long as one with a wrong password.
 */
export async function verifyAgainstDummy (password: string): Promise<false> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'))
  await verifyPassword(password, await dummy)
  return false
}
