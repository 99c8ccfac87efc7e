import { createHash, randomBytes } from 'node:crypto'
import type { Database } from './collection.js'
import type { Role } from './documents.js'

export const INVITATIONS = 'invitations'

/** An invitation to register: single use, with an expiry and the role the account gets. Only a hash of the code is stored. */
export interface Invitation {
  /** sha256 of the code, hex */
  _id: string
  role: Role
  /** for the admin's list; registering does not require this email */
  note: string | null
  createdBy: string
  createdAt: Date
  expiresAt: Date
  usedAt: Date | null
  usedBy: string | null
}

const CODE = /^[A-Za-z0-9_-]{22}$/
const idOf = (code: string): string => createHash('sha256').update(code).digest('hex')

export async function createInvitation (db: Database, input: { role: Role, note: string | null, createdBy: string, ttlSeconds: number }): Promise<{ code: string, invitation: Invitation }> {
  const code = randomBytes(16).toString('base64url')
  const now = new Date()
  const invitation: Invitation = {
    _id: idOf(code), role: input.role, note: input.note, createdBy: input.createdBy, createdAt: now,
    expiresAt: new Date(now.getTime() + input.ttlSeconds * 1000), usedAt: null, usedBy: null
  }
  await db.collection<Invitation>(INVITATIONS).insertOne(invitation)
  return { code, invitation }
}

/**
 * Takes an invitation for one registration (atomic: of two registrations with one code, one wins).
 * Null when the code is unknown, used or expired.
 */
export async function takeInvitation (db: Database, code: string, now = new Date()): Promise<Invitation | null> {
  if (!CODE.test(code)) return null
  return await db.collection<Invitation>(INVITATIONS).findOneAndUpdate(
    { _id: idOf(code), usedAt: null, expiresAt: { $gt: now } }, { $set: { usedAt: now } }, { returnDocument: 'after' })
}

/** Gives an invitation back when the registration it was taken for failed. */
export async function returnInvitation (db: Database, id: string): Promise<void> {
  await db.collection<Invitation>(INVITATIONS).updateOne({ _id: id }, { $set: { usedAt: null, usedBy: null } })
}

export async function markInvitationUsed (db: Database, id: string, userId: string): Promise<void> {
  await db.collection<Invitation>(INVITATIONS).updateOne({ _id: id }, { $set: { usedBy: userId } })
}

export async function listInvitations (db: Database): Promise<Invitation[]> {
  return await db.collection<Invitation>(INVITATIONS).find({}, { sort: { createdAt: -1 }, limit: 500 })
}

export async function deleteInvitation (db: Database, id: string): Promise<boolean> {
  return await db.collection<Invitation>(INVITATIONS).deleteOne({ _id: id }) > 0
}
