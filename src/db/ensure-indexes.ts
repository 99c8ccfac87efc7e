import type { Database } from './collection.js'
import { USERS } from './user-repository.js'
import { REFRESH_TOKENS } from './refresh-token-repository.js'
import { INVITATIONS } from './invitation-repository.js'
import { SIGNUPS } from './signup-repository.js'
import { VIDEOS, VIDEO_TOMBSTONES } from './video-repository.js'

/**
 * Every index Lectern's queries rely on, in one place, created at start-up on either backend
 * (creating an existing index is a no-op on both).
 */
export async function ensureIndexes (db: Database): Promise<void> {
  await db.collection(USERS).createIndex({ email: 1 }, { unique: true })
  // sign-out and reuse detection end a whole sign-in; deleting an account ends all of its
  await db.collection(REFRESH_TOKENS).createIndex({ family: 1 })
  await db.collection(REFRESH_TOKENS).createIndex({ userId: 1 })
  await db.collection(REFRESH_TOKENS).createIndex({ expiresAt: 1 })
  await db.collection(INVITATIONS).createIndex({ createdAt: -1 })
  // mails sent to one address lately (a bound against mail-bombing), and the pruning of expired sign-ups
  await db.collection(SIGNUPS).createIndex({ email: 1, createdAt: -1 })
  await db.collection(SIGNUPS).createIndex({ expiresAt: 1 })

  const videos = db.collection(VIDEOS)
  // "my videos, newest first"
  await videos.createIndex({ owner: 1, createdAt: -1 })
  // an admin's list of every video, newest first
  await videos.createIndex({ createdAt: -1 })
  // search's poll for videos changed since its last look
  await videos.createIndex({ updatedAt: 1 })
  await videos.createIndex({ status: 1 })
  await videos.createIndex({ visibility: 1 })
  // search's poll for deletions, and their pruning
  await db.collection(VIDEO_TOMBSTONES).createIndex({ deletedAt: 1 })

  const jobs = db.collection('jobs')
  // the worker's claim: queued jobs whose runAfter has passed, oldest first
  await jobs.createIndex({ state: 1, runAfter: 1 })
  await jobs.createIndex({ videoId: 1 })
}
