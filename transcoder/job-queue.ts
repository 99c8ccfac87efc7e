import type { Database } from '../src/db/collection.js'
import type { Job, TranscodeMeasure } from '../src/db/documents.js'
import { newId } from '../src/db/new-id.js'
import { isDuplicateKey } from '../src/errors.js'

export const JOBS = 'jobs'
export const DEFAULT_MAX_ATTEMPTS = 3

/** Enqueues a transcode of a video (called by the upload routes); `owner` makes the queue fair between users. */
export async function enqueueTranscode (db: Database, videoId: string, owner: string, maxAttempts = DEFAULT_MAX_ATTEMPTS): Promise<Job> {
  const now = new Date()
  const job: Job = {
    _id: newId(),
    videoId,
    owner,
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

/** One document per claimed attempt of a job, `_id` = `<jobId>:<attempt>`. */
export interface JobClaim {
  _id: string
  jobId: string
  attempt: number
  workerId: string
  claimedAt: Date
}

export const JOB_CLAIMS = 'job_claims'
/** A claim whose job never moved on this long after: its worker died between the two steps of a claim. */
const STALE_CLAIM_MS = 60_000
const CLAIM_CANDIDATES = 8

/** Where a job may be claimed: queued, or running under a lease that has run out; backoff passed. */
function claimable (now: Date) {
  return {
    $or: [
      { state: 'queued' },
      { state: 'running', leaseExpiresAt: { $lt: now } }
    ],
    runAfter: { $lte: now }
  }
}

/** When each owner's job was last claimed: the fair queue serves the least recently served owner first. */
export const QUEUE_OWNERS = 'queue_owners'
interface QueueOwner {
  _id: string
  lastServedAt: Date
}
/** Owners whose oldest runnable jobs are weighed against each other per claim. */
const FAIR_OWNERS = 8

/**
 * The jobs to try, in the order of a fair queue: the oldest runnable job of each of up to
 * FAIR_OWNERS owners; owners with no job running before those with one, then the owner served
 * least recently (never served first), then the older job. One user's long queue therefore waits
 * its turn behind other users' single jobs instead of in front of them.
 */
async function fairCandidates (db: Database, now: Date): Promise<Job[]> {
  const jobs = db.collection<Job>(JOBS)
  const picked: Job[] = []
  const owners: string[] = []
  while (picked.length < FAIR_OWNERS) {
    const filter = owners.length === 0 ? claimable(now) : { ...claimable(now), owner: { $nin: owners } }
    const [oldest] = await jobs.find(filter, { sort: { createdAt: 1 }, limit: 1 })
    if (oldest === undefined) break
    picked.push(oldest)
    // Jobs from before owners were recorded cannot be told apart: they queue as one owner, oldest first.
    if (oldest.owner === undefined) break
    owners.push(oldest.owner)
  }
  if (picked.length <= 1) {
    // One owner waiting (or none): the plain oldest-first order, with a few spares for lost races.
    return await jobs.find(claimable(now), { sort: { createdAt: 1 }, limit: CLAIM_CANDIDATES })
  }
  const running = new Set((await jobs.find({ state: 'running', leaseExpiresAt: { $gte: now }, owner: { $in: owners } }, { projection: { owner: 1 } }))
    .map((j) => j.owner))
  const served = new Map((await db.collection<QueueOwner>(QUEUE_OWNERS).find({ _id: { $in: owners } }))
    .map((o) => [o._id, new Date(o.lastServedAt).getTime()]))
  const rank = (j: Job) => [
    j.owner !== undefined && running.has(j.owner) ? 1 : 0,
    j.owner === undefined ? 0 : served.get(j.owner) ?? 0,
    new Date(j.createdAt).getTime()
  ]
  return picked
    .map((job) => ({ job, key: rank(job) }))
    .sort((a, b) => a.key[0]! - b.key[0]! || a.key[1]! - b.key[1]! || a.key[2]! - b.key[2]!)
    .map((c) => c.job)
}

/**
 * Claims a runnable job: one that is queued, or running under a lease that has run out (its
 * worker died), and whose backoff has passed; between owners, fairly (see fairCandidates).
 *
 * Exclusivity does not rest on findOneAndUpdate alone: MongoDB and the embedded store run it
 * atomically, but MongoDB-protocol servers such as FerretDB 1.x do not (two concurrent claimers
 * were both handed the same job in our tests). So each attempt is first won by inserting
 * `<jobId>:<attempt>` into job_claims, which a unique `_id` lets exactly one worker do on every
 * backend; only the winner then moves the job on, conditionally on the attempt count it saw.
 */
export async function claimJob (db: Database, workerId: string, leaseMs = DEFAULT_LEASE_MS, now = new Date()): Promise<Job | null> {
  const jobs = db.collection<Job>(JOBS)
  const claims = db.collection<JobClaim>(JOB_CLAIMS)
  const candidates = await fairCandidates(db, now)
  for (const candidate of candidates) {
    const attempt = candidate.attempts + 1
    const claim: JobClaim = { _id: `${candidate._id}:${attempt}`, jobId: candidate._id, attempt, workerId, claimedAt: now }
    if (!await takeClaim(db, claim, now)) continue
    const job = await jobs.findOneAndUpdate(
      { _id: candidate._id, attempts: candidate.attempts, ...claimable(now) },
      {
        $set: { state: 'running', leaseOwner: workerId, leaseExpiresAt: new Date(now.getTime() + leaseMs), startedAt: now, updatedAt: now },
        $inc: { attempts: 1 }
      },
      { returnDocument: 'after' }
    )
    if (job !== null) {
      if (job.owner !== undefined) {
        // Only an order hint: a lost write costs fairness for one claim, never exclusivity.
        await db.collection<QueueOwner>(QUEUE_OWNERS).updateOne({ _id: job.owner }, { $set: { lastServedAt: now } }, { upsert: true })
      }
      return job
    }
    // Cancelled (or otherwise changed) between the two steps: give the attempt number back.
    await claims.deleteOne({ _id: claim._id, workerId })
  }
  return null
}

/** Queued jobs the queue position looks through; beyond them a video shows no position. */
const MAX_POSITIONED = 1000

/**
 * Each given video's place in the queue (1: runs next), counting the runnable queued jobs that a
 * fair queue serves before it: owners take turns, the least recently served first, each owner's
 * jobs oldest first. Videos with no runnable queued job (running, waiting for a retry, done) are
 * absent. Exact for one worker; with several, jobs start sooner.
 */
export async function queuePositions (db: Database, videoIds: string[], now = new Date()): Promise<Map<string, number>> {
  const positions = new Map<string, number>()
  if (videoIds.length === 0) return positions
  const jobs = db.collection<Job>(JOBS)
  const runnable = { state: 'queued', runAfter: { $lte: now } }
  if (await jobs.countDocuments({ ...runnable, videoId: { $in: videoIds } }) === 0) return positions
  const queued = await jobs.find(runnable, { sort: { createdAt: 1 }, limit: MAX_POSITIONED, projection: { videoId: 1, owner: 1, createdAt: 1 } })
  const lines = new Map<string, Job[]>()
  for (const job of queued) {
    const owner = job.owner ?? ''
    const line = lines.get(owner)
    if (line === undefined) lines.set(owner, [job])
    else line.push(job)
  }
  const served = new Map((await db.collection<QueueOwner>(QUEUE_OWNERS).find({ _id: { $in: [...lines.keys()] } }))
    .map((o) => [o._id, new Date(o.lastServedAt).getTime()]))
  const wanted = new Set(videoIds)
  let turn = now.getTime()
  for (let position = 1; position <= queued.length && positions.size < wanted.size; position++) {
    let next: string | null = null
    for (const [owner, line] of lines) {
      if (line.length === 0) continue
      if (next === null) { next = owner; continue }
      const a = served.get(owner) ?? 0
      const b = served.get(next) ?? 0
      if (a < b || (a === b && new Date(line[0]!.createdAt).getTime() < new Date(lines.get(next)![0]!.createdAt).getTime())) next = owner
    }
    if (next === null) break
    const job = lines.get(next)!.shift()!
    served.set(next, ++turn)
    if (wanted.has(job.videoId)) positions.set(job.videoId, position)
  }
  return positions
}

async function takeClaim (db: Database, claim: JobClaim, now: Date): Promise<boolean> {
  const claims = db.collection<JobClaim>(JOB_CLAIMS)
  try {
    await claims.insertOne(claim)
    return true
  } catch (err) {
    if (!isDuplicateKey(err)) throw err
  }
  const existing = await claims.findOne({ _id: claim._id })
  if (existing === null || now.getTime() - new Date(existing.claimedAt).getTime() < STALE_CLAIM_MS) return false
  // Its worker won the attempt but died before moving the job on; the job would be stuck otherwise.
  await claims.deleteOne({ _id: claim._id, workerId: existing.workerId, claimedAt: existing.claimedAt })
  try {
    await claims.insertOne(claim)
    return true
  } catch (err) {
    if (isDuplicateKey(err)) return false
    throw err
  }
}

/** Claim records of a job that will not run again. */
async function forgetClaims (db: Database, jobId: string): Promise<void> {
  await db.collection<JobClaim>(JOB_CLAIMS).deleteMany({ jobId })
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

/**
 * Marks this worker's job done, with what it cost (the next estimates are made from it); false if
 * it was cancelled or taken meanwhile.
 */
export async function completeJob (db: Database, jobId: string, workerId: string, measured?: TranscodeMeasure): Promise<boolean> {
  const now = new Date()
  const result = await db.collection<Job>(JOBS).updateOne(
    { _id: jobId, state: 'running', leaseOwner: workerId },
    { $set: { state: 'done', leaseOwner: null, leaseExpiresAt: null, lastError: null, measured, updatedAt: now } }
  )
  if (result.matchedCount === 1) await forgetClaims(db, jobId)
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
  if (!retry) await forgetClaims(db, job._id)
  return retry ? { outcome: 'retry', runAfter } : { outcome: 'failed' }
}

/**
 * Gives a job back on shutdown: queued again at once, and the interrupted attempt does not count,
 * since the video was not at fault.
 */
export async function releaseJob (db: Database, jobId: string, workerId: string): Promise<boolean> {
  const now = new Date()
  const before = await db.collection<Job>(JOBS).findOneAndUpdate(
    { _id: jobId, state: 'running', leaseOwner: workerId },
    { $set: { state: 'queued', leaseOwner: null, leaseExpiresAt: null, runAfter: now, updatedAt: now }, $inc: { attempts: -1 } },
    { returnDocument: 'before' }
  )
  if (before === null) return false
  // The attempt number is handed back, so its claim record goes too.
  await db.collection<JobClaim>(JOB_CLAIMS).deleteOne({ _id: `${jobId}:${before.attempts}`, workerId })
  return true
}

/** Marks a job that cannot run (its video is gone) as cancelled. */
export async function cancelJob (db: Database, jobId: string, workerId: string): Promise<void> {
  await db.collection<Job>(JOBS).updateOne(
    { _id: jobId, leaseOwner: workerId, state: 'running' },
    { $set: { state: 'cancelled', leaseOwner: null, leaseExpiresAt: null, updatedAt: new Date() } }
  )
  await forgetClaims(db, jobId)
}
