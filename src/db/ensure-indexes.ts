import type { Database } from './collection.js'

/**
 * The indexes Lectern's queries rely on, created at start-up on either backend (creating an
 * existing index is a no-op on both).
 */
export async function ensureIndexes (db: Database): Promise<void> {
  await db.collection('users').createIndex({ email: 1 }, { unique: true })

  const videos = db.collection('videos')
  // "my videos, newest first"
  await videos.createIndex({ owner: 1, createdAt: -1 })
  await videos.createIndex({ status: 1 })
  await videos.createIndex({ visibility: 1 })

  const jobs = db.collection('jobs')
  // the worker's claim: queued jobs whose runAfter has passed, oldest first
  await jobs.createIndex({ state: 1, runAfter: 1 })
  await jobs.createIndex({ videoId: 1 })
}
