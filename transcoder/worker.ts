import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Config } from '../src/config.js'
import type { Database } from '../src/db/collection.js'
import type { Job, Video } from '../src/db/documents.js'
import type { ObjectStore } from '../src/storage/object-store.js'
import {
  DEFAULT_LEASE_MS, cancelJob, claimJob, completeJob, failJob, releaseJob, renewLease
} from './job-queue.js'
import type { TranscodeLog } from './run-process.js'
import { checkTools } from './check-tools.js'
import { userFacingReason } from './failure-reason.js'
import { measureOf, recentThroughput } from './transcode-estimate.js'
import { TranscodeAbortedError, TranscodeError } from './transcode-error.js'
import { VIDEOS } from '../src/db/video-repository.js'
import { setSafeTimeout } from '../src/safe-timeout.js'
import { transcodeVideo, type TranscodeContext } from './transcode-video.js'
import { removeStaleVersions } from './remove-stale-versions.js'
import { transcodeDurationSeconds, transcodeJobsSettled, transcodeSpeedRatio } from '../src/metrics/process-metrics.js'

export type JobOutcome = 'done' | 'retry' | 'failed' | 'cancelled' | 'lease-lost' | 'released'

export interface JobSettled {
  jobId: string
  videoId: string
  outcome: JobOutcome
  reason?: string
}

export interface WorkerOptions {
  db: Database
  storage: ObjectStore
  config: Pick<Config, 'ffmpegPath' | 'ffprobePath' | 'hlsSegmentSeconds' | 'sourceLimits'>
  log: TranscodeLog
  /** Unique per worker; defaults to host-pid-random. */
  workerId?: string
  leaseMs?: number
  /** How often an idle worker looks for a job. */
  pollIntervalMs?: number
  /** First retry delay; doubles per attempt. */
  backoffBaseMs?: number
  encode?: TranscodeContext['encode']
  tmpRoot?: string
  progressIntervalMs?: number
  /** Told of every job this worker finishes with, whatever the outcome. */
  onJobSettled?: (event: JobSettled) => void
}

/**
 * Runs transcode jobs one at a time (each ffmpeg already uses every core): claims a job with a
 * lease, renews the lease while the job runs, and stops the job when the lease reports that it
 * was cancelled or taken over. Timers are unref'd so an idle worker never holds the process open.
 */
export class Worker {
  readonly id: string
  private readonly leaseMs: number
  private readonly pollIntervalMs: number
  private readonly renewIntervalMs: number
  private stopping = false
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private current: { job: Job, controller: AbortController } | null = null
  private refusedFor: string | null = null

  constructor (private readonly options: WorkerOptions) {
    this.id = options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS
    this.pollIntervalMs = options.pollIntervalMs ?? 2000
    // Renewals double as the cancel check, so a deleted video stops its ffmpeg within seconds.
    this.renewIntervalMs = Math.max(50, Math.min(5000, Math.floor(this.leaseMs / 3)))
  }

  get running (): boolean {
    return this.loop !== null
  }

  /** Why the worker refused to claim jobs (ffmpeg or ffprobe missing or broken); null otherwise. */
  get refusal (): string | null {
    return this.refusedFor
  }

  /** The job being worked on, if any. */
  get currentJob (): Job | null {
    return this.current?.job ?? null
  }

  start (): void {
    if (this.loop !== null) return
    this.stopping = false
    this.options.log.info({ workerId: this.id, leaseMs: this.leaseMs }, 'transcode worker started')
    this.loop = this.run().finally(() => { this.loop = null })
  }

  /** Stops polling, kills a running ffmpeg and gives its job back; resolves when the worker is idle. */
  async stop (): Promise<void> {
    this.stopping = true
    this.current?.controller.abort(new TranscodeAbortedError('shutdown'))
    this.wake?.()
    await this.loop
  }

  private async run (): Promise<void> {
    // Without working tools every job would fail after its retries; better not to take any.
    const tools = await checkTools(this.options.config)
    if (tools.problem !== null) {
      this.refusedFor = tools.problem
      this.options.log.error({ workerId: this.id, detail: tools.logDetail }, `transcode worker not started: ${tools.problem}`)
      return
    }
    this.refusedFor = null
    this.options.log.debug({ workerId: this.id, versions: tools.versions }, 'transcode tools found')
    while (!this.stopping) {
      let worked = false
      try {
        worked = await this.runOnce()
      } catch (err) {
        this.options.log.error({ workerId: this.id, err }, 'transcode worker error')
      }
      if (!worked && !this.stopping) await this.sleep(this.pollIntervalMs)
    }
  }

  private sleep (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setSafeTimeout(done, ms)
      function done () {
        timer.clear()
        resolve()
      }
      this.wake = () => { this.wake = null; done() }
    })
  }

  /** Claims and runs at most one job; false when there was none. */
  async runOnce (): Promise<boolean> {
    const { db, log } = this.options
    const job = await claimJob(db, this.id, this.leaseMs)
    if (job === null) return false
    const jobLog = log
    if (job.attempts > job.maxAttempts) {
      // Every attempt so far ended with its worker gone (a crash or kill mid-job).
      const times = `${job.maxAttempts} time${job.maxAttempts === 1 ? '' : 's'}`
      const reason = job.lastError !== null
        ? `processing failed ${times}; the last time: ${job.lastError}`
        : `processing stopped before finishing ${times} (the server ran out of memory or restarted while working on it); upload a shorter or smaller video, or tell the administrator`
      await this.settleFailure(job, reason, true)
      return true
    }
    jobLog.info({ workerId: this.id, jobId: job._id, videoId: job.videoId, attempt: job.attempts }, 'transcode job claimed')
    const controller = new AbortController()
    this.current = { job, controller }
    let lastRenewed = Date.now()
    const renew = async (): Promise<void> => {
      const state = await renewLease(db, job._id, this.id, this.leaseMs)
      if (state === 'held') {
        lastRenewed = Date.now()
        return
      }
      throw new TranscodeAbortedError(state === 'cancelled' ? 'cancelled' : 'lease-lost')
    }
    const renewTimer = setInterval(() => {
      renew().catch((err: unknown) => {
        if (err instanceof TranscodeAbortedError) {
          controller.abort(err)
        } else if (Date.now() - lastRenewed > this.leaseMs) {
          // Without a renewal for a whole lease, another worker may already run this job.
          controller.abort(new TranscodeAbortedError('lease-lost'))
        } else {
          jobLog.warn({ jobId: job._id, err: (err as Error).message }, 'lease renewal failed; retrying')
        }
      })
    }, this.renewIntervalMs)
    renewTimer.unref()

    const startedAt = performance.now()
    try {
      // Recent jobs' speed: the time left shown on the video starts from it (see FfmpegProgress).
      const throughput = await recentThroughput(db).catch(() => null)
      const ctx = {
        db,
        storage: this.options.storage,
        config: this.options.config,
        log: jobLog,
        signal: controller.signal,
        beforePublish: renew,
        encode: this.options.encode,
        tmpRoot: this.options.tmpRoot,
        progressIntervalMs: this.options.progressIntervalMs,
        throughput
      }
      const result = await transcodeVideo(ctx, job.videoId)
      clearInterval(renewTimer)
      const wallSeconds = (performance.now() - startedAt) / 1000
      const completed = await completeJob(db, job._id, this.id, measureOf(result.source, wallSeconds))
      if (completed) {
        transcodeDurationSeconds.observe(wallSeconds)
        if (wallSeconds > 0 && result.source.duration > 0) transcodeSpeedRatio.observe(result.source.duration / wallSeconds)
      }
      this.settled(job, completed ? 'done' : 'lease-lost')
    } catch (err) {
      clearInterval(renewTimer)
      if (err instanceof TranscodeAbortedError) {
        if (err.why === 'shutdown') {
          await releaseJob(db, job._id, this.id).catch((e: unknown) => { jobLog.warn({ jobId: job._id, err: (e as Error).message }, 'could not release the job') })
          this.settled(job, 'released')
        } else if (err.why === 'deleted') {
          await cancelJob(db, job._id, this.id)
          this.settled(job, 'cancelled')
        } else {
          this.settled(job, err.why === 'cancelled' ? 'cancelled' : 'lease-lost')
        }
      } else {
        // The raw message (ffmpeg's addresses, temp paths) stays in the log; the uploader reads the reason.
        const reason = userFacingReason(err)
        jobLog.warn({ jobId: job._id, videoId: job.videoId, attempt: job.attempts, err, reason }, 'transcode failed')
        await this.settleFailure(job, reason, err instanceof TranscodeError && err.permanent)
      }
    } finally {
      this.current = null
    }
    return true
  }

  private async settleFailure (job: Job, reason: string, permanent: boolean): Promise<void> {
    const { db } = this.options
    const result = await failJob(db, job, this.id, reason, { permanent, backoffBaseMs: this.options.backoffBaseMs })
    const videos = db.collection<Video>(VIDEOS)
    if (result.outcome === 'failed') {
      await videos.updateOne({ _id: job.videoId }, { $set: { status: 'failed', failureReason: reason, retryAt: null, playable: false, progress: 0, etaSeconds: null, updatedAt: new Date() } })
      // What attempts published or left behind (a crash leaves its version) will never be played.
      await removeStaleVersions(this.options.storage, job.videoId, null).catch((err: unknown) => {
        this.options.log.warn({ videoId: job.videoId, err: (err as Error).message }, 'could not remove the outputs of a failed video')
      })
    } else if (result.outcome === 'retry') {
      // Back in the queue, saying why and when it runs again. What was published while the
      // attempt ran (playable, version, renditions) stays: viewers keep what they could watch.
      await videos.updateOne({ _id: job.videoId, status: 'processing' }, { $set: { status: 'uploaded', failureReason: reason, retryAt: result.runAfter, progress: 0, etaSeconds: null, updatedAt: new Date() } })
    }
    this.settled(job, result.outcome === 'gone' ? 'lease-lost' : result.outcome, reason)
  }

  private settled (job: Job, outcome: JobOutcome, reason?: string): void {
    this.options.log.info({ workerId: this.id, jobId: job._id, videoId: job.videoId, outcome, reason }, 'transcode job settled')
    transcodeJobsSettled.inc({ outcome })
    this.options.onJobSettled?.({ jobId: job._id, videoId: job.videoId, outcome, reason })
  }
}
