import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Worker, type JobSettled } from '../../transcoder/worker.js'
import { makeClip, mediaDir, runFfmpeg } from '../helpers/media.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { transcoderFixture, uploadVideo, getVideo, getJob, type TranscoderFixture } from './fixtures.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

const LEAK = /0x[0-9a-f]{6,}|\/tmp\/|\/work\/|file:/

/** One worker, until `count` jobs have settled. */
async function runWorker (t: Test, fx: TranscoderFixture, count: number): Promise<JobSettled[]> {
  const settled: JobSettled[] = []
  let wake = () => {}
  const worker = new Worker({
    db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, tmpRoot: fx.tmpRoot,
    pollIntervalMs: 50, backoffBaseMs: 100, onJobSettled: (e) => { settled.push(e); wake() }
  })
  worker.start()
  t.teardown(() => worker.stop())
  // The worker's timers are unref'd; hold the test open while it works.
  const keepAlive = setInterval(() => {}, 1000)
  try {
    while (settled.length < count) await new Promise<void>((resolve) => { wake = resolve })
  } finally {
    clearInterval(keepAlive)
  }
  return settled
}

t.test('two frames ten hours apart are refused before encoding, and another user\'s clip is transcoded', { timeout: 60_000 }, async (t) => {
  const fx = await transcoderFixture(t)
  const dir = await mediaDir(t)
  // A few tens of KB that probe as ten hours: encoded at a constant frame rate, they would keep
  // the only worker busy for hours.
  const crafted = join(dir, 'two-frames.mp4')
  runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=1', '-frames:v', '2', '-vf', 'setpts=N*36000/TB', '-fps_mode', 'passthrough', '-c:v', 'libx264', '-preset', 'ultrafast', crafted])
  t.ok((await readFile(crafted)).length < 200_000, 'the crafted file is small')
  const long = await uploadVideo(fx, crafted, { owner: 'mallory' })
  const clip = await uploadVideo(fx, await makeClip({ seconds: 0.5, width: 320, height: 180, dir }), { owner: 'teacher' })

  const settled = await runWorker(t, fx, 2)
  t.same(Object.fromEntries(settled.map((s) => [s.videoId, s.outcome])), { [long.id]: 'failed', [clip.id]: 'done' })
  const refused = await getVideo(fx.db, long.id)
  t.equal(refused.status, 'failed')
  t.match(refused.failureReason, /^the video is 10 h 0 min long; this server accepts up to 6 h \(MAX_DURATION_S\)/)
  t.match(await getJob(fx.db, long.job._id), { state: 'failed', attempts: 1 }, 'refused at once, not retried')
  t.same(await fx.storage.list(`videos/${long.id}/`), [], 'nothing of it was encoded or published')
  t.equal((await getVideo(fx.db, clip.id)).status, 'ready', 'the teacher\'s clip is ready')
})

t.test('hostile and broken files fail with a reason that says what to do and leaks nothing', async (t) => {
  const fx = await transcoderFixture(t)
  const dir = await mediaDir(t)
  const whole = await readFile(await makeClip({ seconds: 2, width: 160, height: 90, dir }))
  const files: Record<string, { bytes: Buffer, name: string, reason: RegExp }> = {
    // A camera or phone interrupted mid-copy: the MP4's index (moov) is at its end, and missing.
    'truncated MP4, moov at the end': { bytes: whole.subarray(0, Math.floor(whole.length * 0.6)), name: 'lecture.mp4', reason: /^the file is incomplete: its index \(moov\) is missing; upload the complete file$/ },
    'random bytes named .mp4': { bytes: randomBytes(200_000), name: 'lecture.mp4', reason: /; upload (the complete file|an MP4, MOV, MKV or WebM video)$/ },
    'random bytes named .mkv': { bytes: randomBytes(200_000), name: 'lecture.mkv', reason: /^the file is not a video Lectern can read .*; upload an MP4, MOV, MKV or WebM video$/ },
    'an HTML page named .mp4': { bytes: Buffer.from('<!doctype html><title>404</title><p>Not found</p>\n'.repeat(50)), name: 'page.mp4', reason: /; upload an MP4, MOV, MKV or WebM video$/ }
  }
  const uploads: Array<[string, { id: string }, RegExp]> = []
  for (const [what, f] of Object.entries(files)) {
    const path = join(dir, `${uploads.length}-${f.name}`)
    await writeFile(path, f.bytes)
    uploads.push([what, await uploadVideo(fx, path), f.reason])
  }
  await runWorker(t, fx, uploads.length)
  for (const [what, { id }, reason] of uploads) {
    const video = await getVideo(fx.db, id)
    t.equal(video.status, 'failed', what)
    t.match(video.failureReason, reason, `${what}: ${video.failureReason}`)
    t.notMatch(video.failureReason, LEAK, `${what}: no heap addresses or server paths`)
  }
})
