import t from 'tap'
import type { Job, Video } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { insertVideo, newVideoDocument, VIDEOS } from '../../src/db/video-repository.js'
import { enqueueTranscode, JOBS } from '../../transcoder/job-queue.js'
import { buildTestApp } from '../helpers/app.js'

t.test('a waiting video shows its place in the fair queue; a retry shows its reason and time', async (t) => {
  const { app } = await buildTestApp(t, { WORKER: 'off' })
  let created = Date.now() - 60_000
  const upload = async (owner: string): Promise<{ id: string, job: Job }> => {
    const id = newId()
    await insertVideo(app.db, newVideoDocument({ id, owner, title: `${owner}'s lecture`, description: '', tags: [], visibility: 'public', originalSize: 1, originalName: null }))
    const job = await enqueueTranscode(app.db, id, owner)
    // One millisecond apart, so the order does not rest on the clock's resolution.
    await app.db.collection<Job>(JOBS).updateOne({ _id: job._id }, { $set: { createdAt: new Date(created++) } })
    return { id, job }
  }
  const view = async (id: string) => (await app.inject(`/api/videos/${id}`)).json()

  const a = [await upload('a'), await upload('a'), await upload('a')]
  const b = await upload('b')
  // The fair queue: a's first, then b's (b has not been served), then a's others.
  t.equal((await view(a[0]!.id)).queuePosition, 1)
  t.equal((await view(b.id)).queuePosition, 2, 'b\'s one video is second, not fourth')
  t.equal((await view(a[1]!.id)).queuePosition, 3)
  t.equal((await view(a[2]!.id)).queuePosition, 4)

  // a's second attempt failed and waits: it leaves the runnable queue, and says why and when.
  const retryAt = new Date(Date.now() + 60_000)
  await app.db.collection<Job>(JOBS).updateOne({ _id: a[0]!.job._id }, { $set: { attempts: 1, runAfter: retryAt, lastError: 'the file is incomplete: its index (moov) is missing; upload the complete file' } })
  await app.db.collection<Video>(VIDEOS).updateOne({ _id: a[0]!.id }, { $set: { failureReason: 'the file is incomplete: its index (moov) is missing; upload the complete file', retryAt } })
  const waiting = await view(a[0]!.id)
  t.match(waiting, { status: 'uploaded', queuePosition: null, retryAt: retryAt.toISOString(), failureReason: /^the file is incomplete/ })
  t.equal((await view(b.id)).queuePosition, 2, 'b stays behind a\'s next runnable job')
  t.equal((await view(a[1]!.id)).queuePosition, 1)

  // Running: no place in the queue, and a stale retryAt is not shown.
  await app.db.collection<Video>(VIDEOS).updateOne({ _id: a[0]!.id }, { $set: { status: 'processing', failureReason: null } })
  t.match(await view(a[0]!.id), { status: 'processing', queuePosition: null, retryAt: null })
})
