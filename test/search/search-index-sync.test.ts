import t, { type Test } from 'tap'
import pino from 'pino'
import { testConfig } from '../helpers/config.js'
import { openDatabase } from '../../src/db/open-database.js'
import { VideoSearchIndex } from '../../src/search/video-search-index.js'
import { SearchIndexSync } from '../../src/search/search-index-sync.js'
import { VIDEOS, VIDEO_TOMBSTONES, type VideoTombstone, deleteVideoRecord, insertVideo, newVideoDocument } from '../../src/db/video-repository.js'
import type { Video } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'

const log = pino({ level: 'silent' })

async function setup (t: Test) {
  const db = await openDatabase(await testConfig(t), log)
  t.teardown(() => db.close())
  const index = new VideoSearchIndex()
  const sync = new SearchIndexSync(db, index, log, { pollMs: 60_000 })
  t.teardown(() => sync.stop())
  return { db, index, sync }
}

const ready = (title: string, at = new Date()): Video => ({
  ...newVideoDocument({ id: newId(), owner: 'o', title, description: '', tags: [], visibility: 'public', originalSize: 1, originalName: null }, at),
  status: 'ready'
})

t.test('poll applies changes and tombstones; reconcile repairs what polling cannot see', async (t) => {
  const { db, index, sync } = await setup(t)
  const a = ready('alpha')
  await insertVideo(db, a)
  await sync.start()
  t.equal(index.size, 1, 'loaded at start')

  const b = ready('beta')
  await insertVideo(db, b)
  await sync.poll()
  t.ok(index.get(b._id), 'a new ready video arrives by polling')

  await db.collection<Video>(VIDEOS).updateOne({ _id: a._id }, { $set: { visibility: 'private', updatedAt: new Date() } })
  await sync.poll()
  t.notOk(index.get(a._id), 'made private: dropped')

  await deleteVideoRecord(db, b._id)
  await sync.poll()
  t.notOk(index.get(b._id), 'deleted: dropped through its tombstone')

  // A writer that forgot to bump updatedAt: only reconciliation notices.
  const stale = ready('gamma', new Date(Date.now() - 3600_000))
  await insertVideo(db, stale)
  await sync.poll()
  t.notOk(index.get(stale._id), 'polling cannot see an old updatedAt')
  await sync.reconcile()
  t.ok(index.get(stale._id), 'reconciliation does')
  await db.collection<Video>(VIDEOS).deleteOne({ _id: stale._id })
  await sync.reconcile()
  t.notOk(index.get(stale._id), 'and drops a video removed without a tombstone')
})

t.test('old tombstones are pruned at reconciliation', async (t) => {
  const { db, sync } = await setup(t)
  await db.collection<VideoTombstone>(VIDEO_TOMBSTONES).insertOne({ _id: 'old', deletedAt: new Date(Date.now() - 2 * 86400_000) })
  await db.collection<VideoTombstone>(VIDEO_TOMBSTONES).insertOne({ _id: 'new', deletedAt: new Date() })
  await sync.reconcile()
  t.same((await db.collection(VIDEO_TOMBSTONES).find({})).map((d) => d._id), ['new'])
})
