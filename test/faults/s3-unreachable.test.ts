import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { publishVideo } from '../delivery/fixtures.js'
import { keysIn, restartableS3rver } from './restartable-servers.js'
import { byteLadder, call, isUnavailable, listen, outageGoingOn, signUp, titles, until, uploadInit } from './fault-client.js'

// S3 unreachable for a while (s3rver SIGKILLed, then started again on the same port with the
// same directory), against one Lectern on a real socket: uploads fail cleanly with nothing
// stored, cached segments still play, uncached ones answer 503, and everything recovers
// without restarting Lectern. /health/ready tells what happened meanwhile.

/** Every key in the bucket under prefix, listed by a client of the test's own. */
t.test('S3 away: uploads refused with nothing stored, cached segments play, the rest 503, all back by itself', async (t) => {
  const s3 = await restartableS3rver(t)
  const { app } = await buildTestApp(t, { ...s3.env, UPLOAD_MAX_MB: '16' })
  t.equal(app.storage.kind, 's3')
  const base = await listen(app)
  const admin = await signUp(base, 'teacher')
  const ladder = byteLadder()
  const { video } = await publishVideo(app, ladder)
  const seg = (n: number, rung = '360p') => `/hls/${video._id}/${rung}/segment-0000${n}.ts`

  // Played once before: segment 0 and the media playlist are in memory now.
  for (let i = 0; i < 2; i++) {
    const res = await call(base, seg(0))
    t.equal(res.status, 200)
    t.ok(res.body.equals(ladder.get('360p/segment-00000.ts')!), 'segment 0 plays before the outage')
  }
  t.equal((await call(base, `/hls/${video._id}/360p/index.m3u8`)).status, 200)
  const mp4 = ladder.get('progressive.mp4')!
  const firstKiB = await call(base, `/stream/${video._id}`, { headers: { range: 'bytes=0-1023' } })
  t.equal(firstKiB.status, 206, 'the start of the MP4 plays before the outage')
  t.equal((await call(base, '/health/ready')).status, 200, 'ready before the outage')

  await s3.kill()

  // Cached segments still play, for as long as the outage lasts (the document comes from the database).
  for (let i = 0; i < 3; i++) {
    const res = await call(base, seg(0))
    t.equal(res.status, 200, `cached segment, request ${i + 1}: 200`)
    t.ok(res.body.equals(ladder.get('360p/segment-00000.ts')!), `cached segment, request ${i + 1}: its bytes`)
  }
  const playlist = await call(base, `/hls/${video._id}/360p/index.m3u8`)
  t.equal(playlist.status, 200, 'the cached media playlist')
  t.ok(playlist.body.equals(ladder.get('360p/index.m3u8')!))

  const cachedRange = await call(base, `/stream/${video._id}`, { headers: { range: 'bytes=0-1023' } })
  t.equal(cachedRange.status, 206, 'a cached range of the MP4')
  t.ok(cachedRange.body.equals(mp4.subarray(0, 1024)))
  // An MP4 range in a chunk never read: its first chunk is asked of storage before the status line
  // goes out, so the answer is a 503 (and never a hang or wrong bytes).
  const uncachedRange = await call(base, `/stream/${video._id}`, { headers: { range: 'bytes=2097152-2098175' } }).catch((err: Error) => err)
  t.ok(uncachedRange instanceof Error || uncachedRange.status === 503, `an uncached MP4 range: refused or cut, never bytes (${uncachedRange instanceof Error ? uncachedRange.message : uncachedRange.status})`)
  t.test('an uncached MP4 range answers 503 with the storage message', async (t) => {
    t.ok(!(uncachedRange instanceof Error) && uncachedRange.status === 503)
  })

  // What was never read answers 503 with a message: a segment, another rendition's playlist.
  isUnavailable(t, await call(base, seg(1)), 'LECTERN_ERR_STORAGE_UNAVAILABLE', /video storage is unreachable/, 'an uncached segment')
  isUnavailable(t, await call(base, `/hls/${video._id}/180p/index.m3u8`), 'LECTERN_ERR_STORAGE_UNAVAILABLE', /video storage is unreachable/, 'an uncached playlist')

  // An upload is refused and leaves no video behind.
  const refused = await call(base, '/api/videos', uploadInit(admin, 'During the outage'))
  isUnavailable(t, refused, 'LECTERN_ERR_STORAGE_UNAVAILABLE', /video storage is unreachable/, 'an upload')
  // So is a resumable one (tus-js-client retries a 503 by itself).
  const b64 = (v: string) => Buffer.from(v).toString('base64')
  const resumable = await call(base, '/api/uploads', {
    method: 'POST',
    headers: { ...admin, 'tus-resumable': '1.0.0', 'upload-length': String(256 * 1024), 'upload-metadata': `title ${b64('During the outage, resumable')},filename ${b64('lecture.mp4')},filetype ${b64('video/mp4')}` }
  })
  isUnavailable(t, resumable, 'LECTERN_ERR_STORAGE_UNAVAILABLE', /video storage is unreachable/, 'a resumable upload')
  const mine = await call(base, '/api/videos', { headers: admin })
  t.equal(mine.status, 200, 'the metadata store still answers')
  // The admin sees every video: the published one, and no document for the refused upload.
  t.same(titles(mine), ['Fixture lecture'], 'no video document claims the refused upload')

  await outageGoingOn(t, base, 'storage', /connection refused|connection reset/)

  await s3.start()

  // Back without a restart of Lectern: the first uncached segment that plays again.
  t.ok(await until(async () => (await call(base, seg(1))).status === 200, 30_000), 'uncached segments play again once S3 is back')
  const again = await call(base, seg(1))
  t.ok(again.body.equals(ladder.get('360p/segment-00001.ts')!), 'with their bytes')
  t.equal((await call(base, `/hls/${video._id}/180p/index.m3u8`)).status, 200)
  const laterRange = await call(base, `/stream/${video._id}`, { headers: { range: 'bytes=2097152-2098175' } })
  t.equal(laterRange.status, 206, 'the uncached MP4 range plays')
  t.ok(laterRange.body.equals(mp4.subarray(2097152, 2098176)), 'with its bytes')
  t.same(await keysIn(s3, 'originals/'), [], 'the refused upload stored no object')

  const stored = await call(base, '/api/videos', uploadInit(admin, 'After the outage'))
  t.equal(stored.status, 202, `an upload is taken again (${stored.body.toString().slice(0, 200)})`)
  t.same(await keysIn(s3, 'originals/'), [`originals/${stored.json?.id as string}`], 'and stored, alone')
  const listed = await call(base, '/api/videos', { headers: admin })
  t.same(titles(listed), ['After the outage', 'Fixture lecture'], 'one more video document: the upload that was stored')

  const after = await call(base, '/health/ready')
  t.equal(after.status, 200, 'ready again')
  const ended = after.json?.outages.storage[0]
  t.ok(typeof ended?.to === 'string' && ended.to >= ended.from, `the outage is reported with its end (${JSON.stringify(ended)})`)
  t.match(ended?.error, /connection refused|connection reset/)
})
