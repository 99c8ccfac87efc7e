import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildTestApp } from '../helpers/app.js'
import { s3ServerFor } from '../helpers/s3-server.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'
import { publishVideo } from './fixtures.js'
import { request } from './http.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import type { Video } from '../../src/db/documents.js'

// The scaled-out read path: objects in S3 (s3rver), Redis as the shared second tier, two API nodes.

const MiB = 1024 * 1024

t.test('ranges from S3 through Redis: byte-exact on one node, and a second node answers from L2', async (t) => {
  if (!requireRedisServer(t)) return
  const s3 = await s3ServerFor(t)
  const redis = await startRedisServer(t)
  const env = { ...s3.env, REDIS_URL: redis.url }
  const progressive = randomBytes(2 * MiB + 4321)
  const segment = randomBytes(300_000)

  const a = await buildTestApp(t, env)
  const { video } = await publishVideo(a.app, new Map([['progressive.mp4', progressive], ['360p/segment-00000.ts', segment]]))
  const baseA = await a.app.listen({ port: 0, host: '127.0.0.1' })
  const size = progressive.length
  const ranges: Array<[string, number, number]> = [
    ['bytes=0-99', 0, 99],
    [`bytes=${MiB - 10}-${MiB + 9}`, MiB - 10, MiB + 9],
    ['bytes=-100', size - 100, size - 1],
    [`bytes=${2 * MiB}-`, 2 * MiB, size - 1]
  ]
  for (const [range, start, end] of ranges) {
    const r = await request(baseA, `/stream/${video._id}`, { headers: { range } })
    t.equal(r.status, 206, range)
    t.ok(r.body.equals(progressive.subarray(start, end + 1)), `${range} exact from S3`)
  }
  const full = await request(baseA, `/stream/${video._id}`)
  t.ok(full.body.equals(progressive), 'the whole file, stitched from three chunks')
  const seg = await request(baseA, `/hls/${video._id}/360p/segment-00000.ts`)
  t.ok(seg.body.equals(segment), 'the segment, exact')
  t.equal(a.app.cache.stats().originReads, 4, 'one origin read per chunk (3) and one for the segment')

  // Wait for the write-behind to Redis (every fill finished, every L2 write settled), then ask a
  // node that has never read anything.
  const cache = a.app.cache as unknown as { stats (): { inFlight: number }, flush (): Promise<void> }
  for (const deadline = Date.now() + 10_000; cache.stats().inFlight !== 0;) {
    if (Date.now() > deadline) throw new Error('chunk fills still in flight after 10 s')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await cache.flush()
  const b = await buildTestApp(t, env)
  await b.app.db.collection<Video>(VIDEOS).insertOne(video)
  const baseB = await b.app.listen({ port: 0, host: '127.0.0.1' })
  for (const [range, start, end] of ranges) {
    const r = await request(baseB, `/stream/${video._id}`, { headers: { range } })
    t.ok(r.body.equals(progressive.subarray(start, end + 1)), `${range} exact from L2`)
  }
  t.ok((await request(baseB, `/hls/${video._id}/360p/segment-00000.ts`)).body.equals(segment))
  t.equal(b.app.cache.stats().originReads, 0, 'the second node read no object bytes from storage')
  t.ok(b.app.cache.stats().l2Hits >= 4, 'its chunks and segment came from Redis')
})
