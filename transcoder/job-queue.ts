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

/** Default lease: long enough to ride out a slow database call, short enough that a dead worker's job soon moves on. */
export const DEFAULT_LEASE_MS = 60_000
/** First retry delay; doubles per attempt. */
export const DEFAULT_BACKOFF_MS = 30_000
const MAX_BACKOFF_MS = 60 * 60_000

/** Delay before attempt `attempts + 1`: base, 2x base, 4x base, ... capped at an hour. */
export function backoffMs (attempts: number, baseMs = DEFAULT_BACKOFF_MS): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempts - 1))
}

/**
 * Claims the oldest runnable job atomically: one that is queued, or running under a lease that
 * has run out (its worker died), and whose backoff has passed. findOneAndUpdate is atomic on
 * both backends, so two workers never get the same job.
 */
export async function claimJob (db: Database, workerId: string, leaseMs = DEFAULT_LEASE_MS, now = new Date()): Promise<Job | null> {
  return await db.collection<Job>(JOBS).findOneAndUpdate(
    {
      $or: [
        { state: 'queued' },
        { state: 'running', leaseExpiresAt: { $lt: now } }
      ],
      runAfter: { $lte: now }
    },
    {
      $set: { state: 'running', leaseOwner: workerId, leaseExpiresAt: new Date(now.getTime() + leaseMs), updatedAt: now },
      $inc: { attempts: 1 }
    },
    { sort: { createdAt: 1 }, returnDocument: 'after' }
  )
}

export type LeaseState = 'held' | 'cancelled' | 'lost'

/**
 * Extends this worker's lease. 'cancelled' when the video's deletion cancelled the job; 'lost'
 * when the job is no longer this worker's (its lease ran out and another worker took it).
 */
export async function renewLease (db: Database, jobId: string, workerId: string, leaseMs = DEFAULT_LEASE_MS): Promise<LeaseState> {
  const now = new Date()
  const jobs = db.collection<Job>(JOBS)
  const renewed = await jobs.findOneAndUpdate(
    { _id: jobId, state: 'running', leaseOwner: workerId },
    { $set: { leaseExpiresAt: new Date(now.getTime() + leaseMs), updatedAt: now } }
  )
  if (renewed !== null) return 'held'
  const job = await jobs.findOne({ _id: jobId })
  return job === null || job.state === 'cancelled' ? 'cancelled' : 'lost'
}

/** Marks this worker's job done; false if it was cancelled or taken meanwhile. */
export async function completeJob (db: Database, jobId: string, workerId: string): Promise<boolean> {
  const now = new Date()
  const result = await db.collection<Job>(JOBS).updateOne(
    { _id: jobId, state: 'running', leaseOwner: workerId },
    { $set: { state: 'done', leaseOwner: null, leaseExpiresAt: null, lastError: null, updatedAt: now } }
  )
  return result.matchedCount === 1
}

export interface FailOutcome {
  /** 'retry': queued again after runAfter; 'failed': no attempts left (or a permanent failure); 'gone': no longer ours */
  outcome: 'retry' | 'failed' | 'gone'
  runAfter?: Date
}

/**
 * Records a failed attempt: queued again with exponential backoff while attempts remain and the
 * failure may pass, otherwise failed for good. The caller marks the video failed on 'failed'.
 */
export async function failJob (db: Database, job: Pick<Job, '_id' | 'attempts' | 'maxAttempts'>, workerId: string, reason: string, options: { permanent: boolean, backoffBaseMs?: number }): Promise<FailOutcome> {
  const now = new Date()
  const retry = !options.permanent && job.attempts < job.maxAttempts
  const runAfter = new Date(now.getTime() + backoffMs(job.attempts, options.backoffBaseMs))
  const result = await db.collection<Job>(JOBS).updateOne(
    { _id: job._id, state: 'running', leaseOwner: workerId },
    {
      $set: retry
        ? { state: 'queued', runAfter, leaseOwner: null, leaseExpiresAt: null, lastError: reason, updatedAt: now }
        : { state: 'failed', leaseOwner: null, leaseExpiresAt: null, lastError: reason, updatedAt: now }
    }
  )
  if (result.matchedCount !== 1) return { outcome: 'gone' }
  return retry ? { outcome: 'retry', runAfter } : { outcome: 'failed' }
}

/**
 * Gives a job back on shutdown: queued again at once, and the interrupted attempt does not count,
 * since the video was not at fault.
 */
export async function releaseJob (db: Database, jobId: string, workerId: string): Promise<boolean> {
  const now = new Date()
  const result = await db.collection<Job>(JOBS).updateOne(
    { _id: jobId, state: 'running', leaseOwner: workerId },
    { $set: { state: 'queued', leaseOwner: null, leaseExpiresAt: null, runAfter: now, updatedAt: now }, $inc: { attempts: -1 } }
  )
  return result.matchedCount === 1
}

/** Marks a job that cannot run (its video is gone) as cancelled. */
export async function cancelJob (db: Database, jobId: string, workerId: string): Promise<void> {
  await db.collection<Job>(JOBS).updateOne(
    { _id: jobId, leaseOwner: workerId, state: 'running' },
    { $set: { state: 'cancelled', leaseOwner: null, leaseExpiresAt: null, updatedAt: new Date() } }
  )
}
