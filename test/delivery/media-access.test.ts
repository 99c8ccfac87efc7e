import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Collection, Database } from '../../src/db/collection.js'
import type { Video } from '../../src/db/documents.js'
import { openEmbeddedDatabase } from '../../src/db/embedded-database.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import { MediaAccess } from '../../src/delivery/media-access.js'

// How video documents are read and reused for playback: lookups share a read under way, a re-read
// is a read of its own, and the fast path's documents are renewed before they run out.

const dir = await mkdtemp(join(tmpdir(), 'lectern-media-access-'))
const db = await openEmbeddedDatabase({ dir })
t.teardown(async () => {
  await db.close()
  await rm(dir, { recursive: true, force: true })
})

/** The real database, with the reads of video documents counted. */
let reads = 0
const counted: Database = {
  kind: db.kind,
  probe: async () => { await db.probe() },
  close: async () => { await db.close() },
  collection<T extends { _id: string }> (name: string): Collection<T> {
    const c = db.collection<T>(name)
    if (name !== VIDEOS) return c
    return new Proxy(c, {
      get (target, prop) {
        const value = Reflect.get(target, prop, target) as unknown
        if (prop === 'findOne') return async (...args: unknown[]) => { reads++; return await (value as (...a: unknown[]) => unknown).apply(target, args) }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      }
    })
  }
}

const TTL = 60_000
const videos = db.collection<Video>(VIDEOS)
let n = 0
async function newVideo (): Promise<string> {
  const id = (++n).toString(16).padStart(20, '0')
  await videos.insertOne({ _id: id, title: 'a lecture', status: 'ready', visibility: 'public' } as unknown as Video)
  return id
}
const access = (): MediaAccess => new MediaAccess(counted, Buffer.alloc(32), TTL, async () => undefined)

t.test('lookups of a video not remembered share one read', async (t) => {
  const a = access()
  const id = await newVideo()
  reads = 0
  const found = await Promise.all(Array.from({ length: 10 }, async () => await a.lookup(id)))
  t.equal(reads, 1, 'one read for ten lookups')
  t.ok(found.every((v) => v !== null && v === found[0]), 'all got the same document')
  t.equal(await a.lookup(id), found[0], 'then remembered')
  t.equal(reads, 1)
})

t.test('a re-read is a read of its own, even with another under way', async (t) => {
  const a = access()
  const id = await newVideo()
  reads = 0
  const first = a.lookup(id)
  const again = a.reread(id)
  t.equal(reads, 2, 'the re-read did not join the read under way')
  await Promise.all([first, again])
  await videos.updateOne({ _id: id }, { $set: { title: 'renamed' } })
  t.equal((await a.reread(id))?.title, 'renamed', 'and it sees what changed')
})

t.test('the fast path\'s document is renewed in the last quarter of its reuse time, by one read', async (t) => {
  const a = access()
  const id = await newVideo()
  t.equal(a.current(id), undefined, 'nothing remembered: the router looks it up')
  const doc = await a.lookup(id)
  // The remembered document runs out at most a reuse time after this.
  const read = Date.now()
  reads = 0
  t.equal(a.current(id, read + TTL / 2), doc, 'fresh')
  t.equal(reads, 0, 'no read while fresh')
  await videos.updateOne({ _id: id }, { $set: { visibility: 'private' } })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(a.current(id, read + TTL * 0.8), doc, 'near its end: still the remembered document')
  t.equal(a.current(id, read + TTL * 0.85), doc)
  t.equal(reads, 1, 'one re-read begun, however often asked')
  for (let i = 0; i < 400 && a.fresh(id, read) === doc; i++) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(reads, 1, 'and no other read meanwhile')
  // Begun 50 ms later than the first read, the re-read's document lasts past the first's end.
  const renewed = a.current(id, read + TTL + 20)
  t.not(renewed, undefined, 'renewed past the first document\'s reuse time')
  t.equal(renewed?.visibility, 'private', 'with the change made before the re-read')
  t.equal(a.current(id, Date.now() + TTL + 1), undefined, 'never older than its reuse time')
})
