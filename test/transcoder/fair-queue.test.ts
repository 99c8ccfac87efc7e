import t from 'tap'
import { Worker, type JobSettled } from '../../transcoder/worker.js'
import { claimJob, completeJob, enqueueTranscode, queuePositions, JOBS } from '../../transcoder/job-queue.js'
import type { Job } from '../../src/db/documents.js'
import { makeClip } from '../helpers/media.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { transcoderFixture, uploadVideo } from './fixtures.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

t.test('one owner\'s five jobs do not hold back another owner\'s one: it runs second, not sixth', async (t) => {
  const fx = await transcoderFixture(t)
  const clip = await makeClip({ seconds: 1, width: 160, height: 90, audio: false }, t)
  const a: string[] = []
  for (let i = 0; i < 5; i++) a.push((await uploadVideo(fx, clip, { owner: 'teacher-a' })).id)
  const b = (await uploadVideo(fx, clip, { owner: 'teacher-b' })).id

  const positions = await queuePositions(fx.db, [...a, b])
  t.equal(positions.get(b), 2, 'the queue position shown for B\'s video says so before anything runs')
  t.same(a.map((id) => positions.get(id)), [1, 3, 4, 5, 6], 'and A\'s videos follow in their order')

  const settled: JobSettled[] = []
  let wake = () => {}
  const worker = new Worker({
    db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, tmpRoot: fx.tmpRoot, pollIntervalMs: 50,
    onJobSettled: (e) => { settled.push(e); wake() }
  })
  worker.start()
  t.teardown(() => worker.stop())
  const keepAlive = setInterval(() => {}, 1000)
  while (settled.length < 6) await new Promise<void>((resolve) => { wake = resolve })
  clearInterval(keepAlive)
  t.same(settled.map((s) => s.outcome), Array(6).fill('done'))
  t.same(settled.map((s) => s.videoId), [a[0], b, a[1], a[2], a[3], a[4]])
})

t.test('among owners, the one served least recently goes first; an owner with a job running waits', async (t) => {
  const fx = await transcoderFixture(t)
  const jobs = fx.db.collection<Job>(JOBS)
  let created = Date.now() - 60_000
  const enqueue = async (owner: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const job = await enqueueTranscode(fx.db, `${owner}-${i}`, owner)
      // Distinct creation times: two inserts within one millisecond would tie.
      await jobs.updateOne({ _id: job._id }, { $set: { createdAt: new Date(created++) } })
    }
  }
  await enqueue('a', 3)
  await enqueue('b', 2)
  await enqueue('c', 1)
  // Two workers at once: the second does not take a's second job while a's first runs.
  const first = await claimJob(fx.db, 'w1', 60_000)
  const second = await claimJob(fx.db, 'w2', 60_000)
  t.equal(first?.videoId, 'a-0')
  t.equal(second?.videoId, 'b-0')
  await completeJob(fx.db, first!._id, 'w1')
  const third = await claimJob(fx.db, 'w1', 60_000)
  t.equal(third?.videoId, 'c-0', 'c was never served')
  await completeJob(fx.db, second!._id, 'w2')
  await completeJob(fx.db, third!._id, 'w1')
  const order: string[] = []
  for (let job = await claimJob(fx.db, 'w1', 60_000); job !== null; job = await claimJob(fx.db, 'w1', 60_000)) {
    order.push(job.videoId)
    await completeJob(fx.db, job._id, 'w1')
  }
  t.same(order, ['a-1', 'b-1', 'a-2'])
})
