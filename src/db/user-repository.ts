import type { Database } from './collection.js'
import type { Role, User } from './documents.js'
import { newId } from './new-id.js'
import { isDuplicateKey, DuplicateKeyError } from '../errors.js'

export const USERS = 'users'
/** One-document claims (`{ _id: 'first-admin' }`) whose unique _id settles races between nodes. */
export const CLAIMS = 'claims'
const FIRST_ADMIN = 'first-admin'

interface Claim {
  _id: string
  userId: string
  at: Date
}

/** What the API shows of a user: never the hash or salt. */
export interface PublicUser {
  id: string
  email: string
  name: string
  role: Role
  createdAt: string
}

/** An account's role; accounts from before roles existed ('user') could upload, so they are teachers. */
export function roleOf (user: Pick<User, 'role'>): Role {
  return user.role === 'user' ? 'teacher' : user.role
}

export function toPublicUser (user: User): PublicUser {
  return { id: user._id, email: user.email, name: user.name, role: roleOf(user), createdAt: user.createdAt.toISOString() }
}

export async function findUserByEmail (db: Database, normalizedEmail: string): Promise<User | null> {
  return await db.collection<User>(USERS).findOne({ email: normalizedEmail })
}

export async function findUserById (db: Database, id: string): Promise<User | null> {
  return await db.collection<User>(USERS).findOne({ _id: id })
}

/** Whether the store has no account yet (the next one becomes the admin). */
export async function noUsersYet (db: Database): Promise<boolean> {
  return await db.collection<User>(USERS).countDocuments({}) === 0
}

export interface NewUser {
  email: string
  name: string
  passwordHash: string
  passwordSalt: string
  /** the role unless this is the first account of the store, which is always the admin */
  role: Role
}

/**
 * Inserts a user; the first account of an empty store becomes the admin. Two registrations racing
 * on an empty store (on one node or several) both see no users, so the role is settled by
 * inserting a claim document whose fixed _id only one insert can win.
 * A duplicate email is a DuplicateKeyError (the unique index decides, not a prior lookup).
 */
export async function createUser (db: Database, input: NewUser): Promise<User> {
  const users = db.collection<User>(USERS)
  const claims = db.collection<Claim>(CLAIMS)
  const id = newId()
  let role: Role = input.role
  let claimed = false
  if (await users.countDocuments({}) === 0) {
    try {
      await claims.insertOne({ _id: FIRST_ADMIN, userId: id, at: new Date() })
      role = 'admin'
      claimed = true
    } catch (err) {
      if (!isDuplicateKey(err)) throw err
    }
  }
  const user: User = { _id: id, ...input, role, createdAt: new Date() }
  try {
    await users.insertOne(user)
  } catch (err) {
    // Give the claim back so the next registration can still become the admin.
    if (claimed) await claims.deleteOne({ _id: FIRST_ADMIN, userId: id }).catch(() => {})
    if (isDuplicateKey(err)) throw new DuplicateKeyError(`An account with email ${input.email} already exists`)
    throw err
  }
  return user
}

export interface ListPosition {
  createdAt: Date
  id: string
}

/** Accounts, oldest first; up to limit + 1 to tell whether more follow. */
export async function listUsers (db: Database, limit: number, after?: ListPosition): Promise<User[]> {
  const filter = after === undefined
    ? {}
    : { $or: [{ createdAt: { $gt: after.createdAt } }, { createdAt: after.createdAt, _id: { $gt: after.id } }] }
  return await db.collection<User>(USERS).find(filter, { sort: { createdAt: 1, _id: 1 }, limit: limit + 1 })
}

export async function setUserRole (db: Database, id: string, role: Role): Promise<User | null> {
  return await db.collection<User>(USERS).findOneAndUpdate({ _id: id }, { $set: { role } }, { returnDocument: 'after' })
}

export async function deleteUser (db: Database, id: string): Promise<boolean> {
  return await db.collection<User>(USERS).deleteOne({ _id: id }) > 0
}

export async function countAdmins (db: Database): Promise<number> {
  return await db.collection<User>(USERS).countDocuments({ role: 'admin' })
}
