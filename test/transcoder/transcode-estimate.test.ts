import t from 'tap'
import { FfmpegProgress } from '../../transcoder/ffmpeg-progress.js'
import { expectedTranscodeSeconds, recentThroughput } from '../../transcoder/transcode-estimate.js'
import { JOBS } from '../../transcoder/job-queue.js'
import { Worker, type JobSettled } from '../../transcoder/worker.js'
import type { Job } from '../../src/db/documents.js'
import { makeClip } from '../helpers/media.js'
import { requireTools } from '../helpers/requirements.js'
import { transcoderFixture, uploadVideo, getJob } from './fixtures.js'

/** ffmpeg's -progress block at `seconds` of output. */
const report = (seconds: number) => `out_time_us=${Math.round(seconds * 1e6)}\nprogress=continue\n`

t.test('the time left starts from the expectation and moves to the measured pace', async (t) => {
  // The case of the issue: a 600 s source whose encode takes 395 s in all, but whose first
  // percent is slow (6.73 s), so the pace alone says 673 s at 1% when about 389 s are left.
  let now = 0
  const blind = new FfmpegProgress(600, { now: () => now })
  const informed = new FfmpegProgress(600, { now: () => now, expectedSeconds: 400 })
  t.equal(blind.etaSeconds(), null, 'without an expectation, nothing to say at the start')
  t.equal(informed.etaSeconds(), 400, 'with one, the whole expectation at the start')
  blind.push(report(0)); informed.push(report(0))
  now = 6730
  blind.push(report(6)); informed.push(report(6))
  const left = 395 - 6.73
  t.equal(blind.etaSeconds(), 666, 'the pace alone overshoots')
  const early = informed.etaSeconds()!
  t.ok(Math.abs(early - left) < 0.15 * left, `at 1%, within 15% of the ${left.toFixed(0)} s left: ${early}`)
  // Half way, at the true pace (the rest goes at 388.27 s for 594 s of content).
  now = 6730 + 294 / 594 * 388_270
  informed.push(report(300))
  const half = informed.etaSeconds()!
  const trueHalf = 395 - now / 1000
  t.ok(Math.abs(half - trueHalf) < 0.1 * trueHalf, `at 50%, within 10% of the ${trueHalf.toFixed(0)} s left: ${half}`)
  informed.push('out_time_us=600000000\nprogress=end\n')
  t.equal(informed.etaSeconds(), 0)
})

t.test('the expectation comes from recent jobs: output pixel-seconds per wall second, scaled to the source', async (t) => {
  const fx = await transcoderFixture(t)
  t.equal(await recentThroughput(fx.db), null, 'no finished job yet')
  const jobs = fx.db.collection<Job>(JOBS)
  const base = { videoId: 'v', owner: 'o', attempts: 1, maxAttempts: 3, runAfter: new Date(), leaseOwner: null, leaseExpiresAt: null, lastError: null, createdAt: new Date() }
  // 720p30 at 2x real time, three times; one 360p30 job at 0.1x (a loaded moment) that the median ignores.
  const p720 = 1280 * 720 * 30
  const measured = [
    { contentSeconds: 20, wallSeconds: 10, pixelRate: p720 },
    { contentSeconds: 60, wallSeconds: 30, pixelRate: p720 },
    { contentSeconds: 40, wallSeconds: 20, pixelRate: p720 },
    { contentSeconds: 10, wallSeconds: 100, pixelRate: 640 * 360 * 30 }
  ]
  for (const [i, m] of measured.entries()) await jobs.insertOne({ ...base, _id: `done-${i}`, state: 'done', measured: m, updatedAt: new Date(Date.now() - 1000 + i) })
  await jobs.insertOne({ ...base, _id: 'failed', state: 'failed', updatedAt: new Date() })
  const throughput = await recentThroughput(fx.db)
  // The median of 2x (three times) and 0.1x at a quarter of the pixels: 2x at 720p30.
  t.equal(throughput, 2 * p720)
  t.equal(expectedTranscodeSeconds({ width: 1280, height: 720, frameRate: 30, duration: 600 }, throughput), 300, '10 min of 720p30: 5 min')
  t.equal(expectedTranscodeSeconds({ width: 1920, height: 1080, frameRate: 30, duration: 600 }, throughput), 675, '1080p has 2.25x the pixels')
  t.equal(expectedTranscodeSeconds({ width: 1280, height: 720, frameRate: 60, duration: 600 }, throughput), 600, '60 fps, twice the frames')
  t.equal(expectedTranscodeSeconds({ width: 1280, height: 720, frameRate: 30, duration: 600 }, null), null)
})

t.test('a finished job records what it cost', async (t) => {
  if (!requireTools(t, 'ffmpeg', 'ffprobe')) return
  const fx = await transcoderFixture(t)
  const { job } = await uploadVideo(fx, await makeClip({ seconds: 2, width: 320, height: 180, fps: 25 }, t))
  const settled: JobSettled[] = []
  let wake = () => {}
  const worker = new Worker({ db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, tmpRoot: fx.tmpRoot, pollIntervalMs: 50, onJobSettled: (e) => { settled.push(e); wake() } })
  worker.start()
  t.teardown(() => worker.stop())
  const keepAlive = setInterval(() => {}, 1000)
  while (settled.length < 1) await new Promise<void>((resolve) => { wake = resolve })
  clearInterval(keepAlive)
  const done = await getJob(fx.db, job._id)
  t.equal(done.state, 'done')
  t.ok(Math.abs(done.measured!.contentSeconds - 2) < 0.1, `the clip's 2 s (${done.measured!.contentSeconds})`)
  t.equal(done.measured!.pixelRate, 320 * 180 * 25)
  t.ok(done.measured!.wallSeconds > 0)
  t.ok((await recentThroughput(fx.db))! > 0, 'and the next estimate has a figure')
})
