import t, { type Test } from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { videoKeys, type Video } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { Worker, type JobSettled, type WorkerOptions } from '../../transcoder/worker.js'
import { cancelTranscode, claimJob, renewLease, releaseJob, backoffMs, JOB_CLAIMS, type JobClaim } from '../../transcoder/job-queue.js'
import { makeClip, makeAudioOnly, mediaDir } from '../helpers/media.js'
import { transcoderFixture, uploadVideo, getVideo, getJob, filesUnder, untilMidEncode, type TranscoderFixture } from './fixtures.js'
import { requireToolsForFile, toolPath } from '../helpers/requirements.js'
import { tempDir } from '../helpers/config.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

/** Runs a worker until `count` jobs settled; stops it after the test. */
function startWorker (t: Test, fx: TranscoderFixture, options: Partial<WorkerOptions> = {}) {
  const settled: JobSettled[] = []
  const waiters: Array<() => void> = []
  const worker = new Worker({
    db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, tmpRoot: fx.tmpRoot,
    pollIntervalMs: 50, leaseMs: 2000, backoffBaseMs: 100, progressIntervalMs: 100,
    onJobSettled: (e) => { settled.push(e); waiters.splice(0).forEach((w) => w()) },
    ...options
  })
  worker.start()
  t.teardown(() => worker.stop())
  const until = async (count: number) => {
    // The worker's timers are unref'd (it must never hold a server open); hold the test open.
    const keepAlive = setInterval(() => {}, 1000)
    try {
      while (settled.length < count) await new Promise<void>((resolve) => waiters.push(resolve))
    } finally {
      clearInterval(keepAlive)
    }
    return settled
  }
  return { worker, settled, until }
}

t.test('backoff doubles per attempt', async (t) => {
  t.same([1, 2, 3, 4].map((a) => backoffMs(a, 1000)), [1000, 2000, 4000, 8000])
  t.equal(backoffMs(30, 1000), 60 * 60_000, 'capped at an hour')
})

t.test('claims are exclusive, leases are checked', async (t) => {
  const fx = await transcoderFixture(t)
  const { job } = await uploadVideo(fx, await makeClip({ seconds: 1, width: 160, height: 90 }, t))
  const a = await claimJob(fx.db, 'worker-a', 60_000)
  t.equal(a?._id, job._id)
  t.equal(a?.attempts, 1)
  t.equal(await claimJob(fx.db, 'worker-b', 60_000), null, 'a held lease is not claimable')
  t.equal(await renewLease(fx.db, job._id, 'worker-b'), 'lost', 'only the holder renews')
  t.equal(await renewLease(fx.db, job._id, 'worker-a'), 'held')
  const later = new Date(Date.now() + 120_000)
  const b = await claimJob(fx.db, 'worker-b', 60_000, later)
  t.equal(b?._id, job._id, 'an expired lease is claimable')
  t.equal(b?.attempts, 2)
  t.equal(await renewLease(fx.db, job._id, 'worker-a'), 'lost', 'the old holder learns it lost the job')
  t.ok(await releaseJob(fx.db, job._id, 'worker-b'))
  t.match(await getJob(fx.db, job._id), { state: 'queued', attempts: 1, leaseOwner: null })
  await cancelTranscode(fx.db, job.videoId)
  t.equal(await claimJob(fx.db, 'worker-c', 60_000), null, 'cancelled jobs are never claimed')
})

t.test('an attempt won by a worker that died before taking the job is freed after a while', async (t) => {
  const fx = await transcoderFixture(t)
  const { job } = await uploadVideo(fx, await makeClip({ seconds: 1, width: 160, height: 90 }, t))
  const claims = fx.db.collection<JobClaim>(JOB_CLAIMS)
  await claims.insertOne({ _id: `${job._id}:1`, jobId: job._id, attempt: 1, workerId: 'dead', claimedAt: new Date() })
  t.equal(await claimJob(fx.db, 'w1', 60_000), null, 'a fresh claim of that attempt blocks others')
  const later = new Date(Date.now() + 61_000)
  const claimed = await claimJob(fx.db, 'w1', 60_000, later)
  t.equal(claimed?._id, job._id, 'a stale one does not')
  t.match(await claims.findOne({ _id: `${job._id}:1` }), { workerId: 'w1' })
})

t.test('bad inputs fail at once, with the reason on the video', async (t) => {
  const fx = await transcoderFixture(t)
  const dir = await mediaDir(t)
  const text = join(dir, 'notes.mp4')
  await writeFile(text, 'not a video\n'.repeat(100))
  const hls = join(dir, 'playlist.mp4')
  await writeFile(hls, '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n')
  const whole = await readFile(await makeClip({ seconds: 2, width: 160, height: 90, dir }))
  const truncated = join(dir, 'truncated.mp4')
  await writeFile(truncated, whole.subarray(0, whole.length >> 1))
  // With its index at the front, a cut-off MP4 probes fine; the encode finds the end missing.
  const wholeFast = await readFile(await makeClip({ seconds: 4, width: 160, height: 90, faststart: true, dir, name: 'fast.mp4' }))
  const truncatedFast = join(dir, 'truncated-faststart.mp4')
  await writeFile(truncatedFast, wholeFast.subarray(0, wholeFast.length >> 1))
  const uploads = {
    truncated: await uploadVideo(fx, truncated),
    truncatedFast: await uploadVideo(fx, truncatedFast),
    text: await uploadVideo(fx, text),
    audio: await uploadVideo(fx, await makeAudioOnly({ dir })),
    hls: await uploadVideo(fx, hls)
  }
  const { until } = startWorker(t, fx)
  await until(5)
  // Reasons for the uploader: what is wrong and what to do, nothing of the server's internals.
  const expected = {
    truncated: /^the file is incomplete: its index \(moov\) is missing; upload the complete file$/,
    truncatedFast: /^the file is incomplete: it ends before the media its header describes; upload the complete file$/,
    text: /^the file is not a video Lectern can read .*; upload an MP4, MOV, MKV or WebM video$/,
    audio: /^the file has no video picture .*; upload a video file$/,
    hls: /^the file is not a video container Lectern accepts .*; upload an MP4, MOV, MKV or WebM video$/
  }
  for (const [name, { id, job }] of Object.entries(uploads)) {
    const video = await getVideo(fx.db, id)
    t.equal(video.status, 'failed', `${name}: failed`)
    t.match(video.failureReason, expected[name as keyof typeof expected], `${name}: ${video.failureReason}`)
    t.notMatch(video.failureReason, /0x[0-9a-f]{6,}|\/tmp\/|\/work\/|file:/, `${name}: no addresses or paths`)
    t.equal((await getJob(fx.db, job._id)).lastError, video.failureReason, `${name}: the job keeps the same reason`)
    t.match(await getJob(fx.db, job._id), { state: 'failed', attempts: 1 }, `${name}: no retries`)
    t.same(await fx.storage.list(videoKeys.prefix(id)), [], `${name}: nothing published`)
  }
  t.same(await filesUnder(fx.tmpRoot), [], 'temp files removed')
})

t.test('a missing original fails at once', async (t) => {
  const fx = await transcoderFixture(t)
  const { id, job } = await uploadVideo(fx, await makeClip({ seconds: 1, width: 160, height: 90 }, t))
  await fx.storage.delete(videoKeys.original(id))
  const { until } = startWorker(t, fx)
  t.equal((await until(1))[0]!.outcome, 'failed')
  t.match(await getJob(fx.db, job._id), { state: 'failed', attempts: 1 })
  t.equal((await getVideo(fx.db, id)).failureReason, 'the uploaded file could not be read back from storage; upload it again')
})

t.test('a job whose workers keep dying is given up after its last attempt', async (t) => {
  const fx = await transcoderFixture(t)
  const { id, job } = await uploadVideo(fx, await makeClip({ seconds: 1, width: 160, height: 90 }, t), { maxAttempts: 1 })
  t.ok(await claimJob(fx.db, 'dies-mid-job', 1))
  // What the dead worker had stored under its own version before it died.
  const orphan = videoKeys.segment(id, newId(), '90p', 'segment-00000.ts')
  await fx.storage.put(orphan, Buffer.from('partial'))
  await new Promise((resolve) => setTimeout(resolve, 20))
  const { until } = startWorker(t, fx)
  t.equal((await until(1))[0]!.outcome, 'failed')
  t.same(await fx.storage.list(videoKeys.prefix(id)), [], 'the dead attempt\'s outputs are removed with the failed video')
  t.match(await getJob(fx.db, job._id), { state: 'failed', attempts: 2 })
  const video = await getVideo(fx.db, id)
  t.equal(video.status, 'failed')
  t.match(video.failureReason, /^processing stopped before finishing 1 time \(the server ran out of memory or restarted while working on it\); upload a shorter or smaller video/)
})

t.test('tool failures are retried after 30 s, then 60 s, then the video fails with the reason', async (t) => {
  // An ffmpeg that answers -version (so the worker starts) but fails every encode.
  const bin = await tempDir(t, 'lectern-failing-ffmpeg-')
  const failing = join(bin, 'ffmpeg')
  await writeFile(failing, `#!/bin/sh\ncase " $* " in *" -version "*) exec ${JSON.stringify(toolPath('ffmpeg'))} "$@";; esac\necho "[h264 @ 0x55d0c0ffee00] simulated failure in ${bin}/x" >&2\nexit 1\n`, { mode: 0o755 })
  const fx = await transcoderFixture(t, { FFMPEG_PATH: failing })
  const { id, job } = await uploadVideo(fx, await makeClip({ seconds: 1, width: 160, height: 90 }, t), { maxAttempts: 3 })
  // As if an earlier transcode had published a ladder viewers are watching.
  await fx.db.collection<Video>('videos').updateOne({ _id: id }, { $set: { playable: true, version: 'earlier' } })
  // The default backoff. The test is the clock: claimJob is asked at chosen times, and time
  // "passes" by handing the job back runnable now once its backoff has been checked.
  const { until } = startWorker(t, fx, { backoffBaseMs: undefined })
  const delays: number[] = []
  for (let attempt = 1; attempt <= 2; attempt++) {
    const settled = await until(attempt)
    t.equal(settled[attempt - 1]!.outcome, 'retry', `attempt ${attempt} failed and will be retried`)
    const queued = await getJob(fx.db, job._id)
    t.match(queued, { state: 'queued', attempts: attempt })
    const runAfter = queued.runAfter.getTime()
    delays.push(runAfter - queued.updatedAt.getTime())
    t.equal(await claimJob(fx.db, 'clock', 60_000, new Date(runAfter - 1)), null, `attempt ${attempt + 1} is not runnable 1 ms before its backoff ends`)
    // The worker polls every 50 ms meanwhile and must leave the job alone.
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.match(await getJob(fx.db, job._id), { state: 'queued', attempts: attempt }, 'the worker does not retry early')
    const waiting = await getVideo(fx.db, id)
    t.equal(waiting.status, 'uploaded', 'waiting for the retry')
    t.match(waiting.failureReason, /^processing failed; upload the video again, or export it as MP4 \(H\.264 and AAC\) first/, 'with the last error')
    t.notMatch(waiting.failureReason, /0x[0-9a-f]{6,}|\/tmp\/|lectern-failing/, 'scrubbed of addresses and paths')
    t.equal(new Date(waiting.retryAt!).getTime(), runAfter, 'and when it runs again')
    t.match(waiting, { playable: true, version: 'earlier' }, 'what viewers could watch stays while the retry waits')
    const claimed = await claimJob(fx.db, 'clock', 60_000, new Date(runAfter))
    t.equal(claimed?._id, job._id, `attempt ${attempt + 1} is runnable once its backoff has passed`)
    t.ok(await releaseJob(fx.db, job._id, 'clock'), 'handed back, runnable now, without using up the attempt')
  }
  t.same(delays, [30_000, 60_000], 'the backoff is 30 s, doubling')
  const all = await until(3)
  t.same(all.map((s) => s.outcome), ['retry', 'retry', 'failed'])
  t.match(await getJob(fx.db, job._id), { state: 'failed', attempts: 3 })
  const video = await getVideo(fx.db, id)
  t.equal(video.status, 'failed')
  t.match(video.failureReason, /^processing failed;/)
  t.equal(video.retryAt, null, 'no retry pending')
  t.equal(video.playable, false, 'failed for good: no longer playable')
})

t.test('cancelling a job mid-encode stops ffmpeg and leaves nothing', async (t) => {
  const fx = await transcoderFixture(t)
  const { id, job } = await uploadVideo(fx, await makeClip({ seconds: 20, width: 640, height: 360 }, t))
  const { until } = startWorker(t, fx, { leaseMs: 600 })
  // Wait until ffmpeg reports progress, then cancel as deleting the video does.
  await untilMidEncode(() => getVideo(fx.db, id))
  await cancelTranscode(fx.db, id)
  const [settled] = await until(1)
  t.equal(settled!.outcome, 'cancelled')
  t.equal((await getJob(fx.db, job._id)).state, 'cancelled')
  t.not((await getVideo(fx.db, id)).status, 'ready')
  t.same(await fx.storage.list(videoKeys.prefix(id)), [], 'nothing in storage')
  t.same(await filesUnder(fx.tmpRoot), [], 'temp files removed')
})

t.test('cancelling while outputs upload removes what was written', async (t) => {
  const fx = await transcoderFixture(t)
  const { id } = await uploadVideo(fx, await makeClip({ seconds: 3, width: 320, height: 180 }, t))
  let puts = 0
  // The real store, watched: the job is cancelled once a few objects are stored.
  const watched: ObjectStore = Object.create(fx.storage, {
    put: {
      value: async (...args: Parameters<ObjectStore['put']>) => {
        const info = await fx.storage.put(...args)
        if (args[0].startsWith(videoKeys.prefix(id)) && ++puts === 2) await cancelTranscode(fx.db, id)
        return info
      }
    }
  })
  const { until } = startWorker(t, { ...fx, storage: watched })
  const [settled] = await until(1)
  t.equal(settled!.outcome, 'cancelled')
  t.ok(puts >= 2, `${puts} objects were stored before the cancel was seen`)
  t.same(await fx.storage.list(videoKeys.prefix(id)), [], 'and all were removed')
  t.not((await getVideo(fx.db, id)).status, 'ready')
})

t.test('a deleted video: the job is cancelled, nothing is published', async (t) => {
  const fx = await transcoderFixture(t)
  const { id, job } = await uploadVideo(fx, await makeClip({ seconds: 1, width: 160, height: 90 }, t))
  await fx.db.collection('videos').deleteOne({ _id: id })
  const { until } = startWorker(t, fx)
  t.equal((await until(1))[0]!.outcome, 'cancelled')
  t.equal((await getJob(fx.db, job._id)).state, 'cancelled')
})

t.test('stop() kills ffmpeg and gives the job back without using up an attempt', async (t) => {
  const fx = await transcoderFixture(t)
  const { id, job } = await uploadVideo(fx, await makeClip({ seconds: 20, width: 640, height: 360 }, t))
  const { worker, until } = startWorker(t, fx)
  await untilMidEncode(() => getVideo(fx.db, id))
  await worker.stop()
  t.equal((await until(1))[0]!.outcome, 'released')
  t.match(await getJob(fx.db, job._id), { state: 'queued', attempts: 0, leaseOwner: null })
  t.same(await filesUnder(fx.tmpRoot), [], 'temp files removed')
})
