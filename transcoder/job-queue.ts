import type { Database } from '../src/db/collection.js'
import type { Job } from '../src/db/documents.js'
import { newId } from '../src/db/new-id.js'

export const JOBS = 'jobs'
export const DEFAULT_MAX_ATTEMPTS = 3

/** Enqueues a transcode of a video (called by the upload route). */
export async function enqueueTranscode (db: Database, videoId: string, maxAttempts = DEFAULT_MAX_ATTEMPTS): Promise<Job> {
  const now = new Date()
  const job: Job = {
    _id: newId(),
    videoId,
    state: 'queued',
    attempts: 0,
    maxAttempts,
    runAfter: now,
    leaseOwner: null,
    leaseExpiresAt: null,
    lastError: null,
    createdAt: now,
    updatedAt: now
  }
  await db.collection<Job>(JOBS).insertOne(job)
  return job
}

/**
 * Cancels every unfinished job of a video (called when a video is deleted). A worker running one
 * sees the state change at its next lease renewal, kills ffmpeg and removes what it wrote.
 */
export async function cancelTranscode (db: Database, videoId: string): Promise<number> {
  const result = await db.collection<Job>(JOBS).updateMany(
    { videoId, state: { $in: ['queued', 'running'] } },
    { $set: { state: 'cancelled', updatedAt: new Date() } }
  )
  return result.modifiedCount
}
