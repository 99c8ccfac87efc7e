import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { publishVideo } from '../delivery/fixtures.js'
import { keysIn, restartableS3rver } from './restartable-servers.js'
import { byteLadder, call, isUnavailable, listen, signUp, titles, until, uploadInit } from './fault-client.js'
import { SCHEDULING_MARGIN_MS, establishedTo, portOf, readyWhileHung, timedCall } from './hung-dependency.js'

// S3 hung: s3rver SIGSTOPped under one Lectern on a real socket. Connections are accepted and
// requests buffered, nothing answers. Meanwhile what is in memory plays, what needs storage
// answers 503 within the configured bound, an upload fails and leaves nothing behind (also once
// s3rver goes on and finds the buffered requests), and connections to it do not pile up. After
// SIGCONT everything works again without restarting Lectern.

const STORAGE_AWAY = /video storage is unreachable/
/** S3_SOCKET_TIMEOUT_MS, shorter than its default (30 s) so the test takes seconds. */
const SOCKET_TIMEOUT_MS = 1500
/**
 * One S3 call meeting the hang is cut after one socket timeout: a call with nothing to send has
 * that long in all, retries included, and a put is not retried while the outage is known (the
 * reads below come first). A request waits for at most one such call (an upload's clean-up deletes
 * go on without it: test/api/store-upload.test.ts); the bound allows three, plus slack.
 */
const BOUND_MS = 3 * SOCKET_TIMEOUT_MS + SCHEDULING_MARGIN_MS

t.test('S3 hung (SIGSTOP): bounded 503s, cached bytes play, a clean failed upload, no pile-up, all back after SIGCONT', async (t) => {
  const s3 = await restartableS3rver(t)
  const { app } = await buildTestApp(t, { ...s3.env, UPLOAD_MAX_MB: '16', S3_SOCKET_TIMEOUT_MS: String(SOCKET_TIMEOUT_MS) })
  t.equal(app.storage.kind, 's3')
  const port = portOf(s3.env.S3_ENDPOINT!)
  const base = await listen(app)
  const admin = await signUp(base, 'teacher')
  const ladder = byteLadder()
  const { video } = await publishVideo(app, ladder)
  const seg = (n: number, rung = '360p') => `/hls/${video._id}/${rung}/segment-0000${n}.ts`
  const mp4 = ladder.get('progressive.mp4')!
  for (let i = 0; i < 2; i++) t.equal((await call(base, seg(0))).status, 200, 'segment 0 plays before the hang')
  t.equal((await call(base, `/hls/${video._id}/360p/index.m3u8`)).status, 200)
  t.equal((await call(base, `/stream/${video._id}`, { headers: { range: 'bytes=0-1023' } })).status, 206)
  t.equal((await call(base, '/health/ready')).status, 200, 'ready before the hang')

  await s3.pause()
  t.teardown(async () => { await s3.resume() })

  const cached = await timedCall(base, seg(0))
  t.equal(cached.status, 200, 'a cached segment plays')
  t.ok(cached.body.equals(ladder.get('360p/segment-00000.ts')!), 'with its bytes')
  const cachedRange = await timedCall(base, `/stream/${video._id}`, { headers: { range: 'bytes=0-1023' } })
  t.equal(cachedRange.status, 206, 'a cached range of the MP4')
  t.ok(cachedRange.body.equals(mp4.subarray(0, 1024)))
  t.comment(`from memory while hung: segment in ${cached.ms} ms, range in ${cachedRange.ms} ms`)

  const [segment, playlist, range] = await Promise.all([
    timedCall(base, seg(1)),
    timedCall(base, `/hls/${video._id}/180p/index.m3u8`),
    timedCall(base, `/stream/${video._id}`, { headers: { range: 'bytes=2097152-2098175' } })
  ])
  t.comment(`needing storage while hung: segment ${segment.status} in ${segment.ms} ms, playlist ${playlist.status} in ${playlist.ms} ms, MP4 range ${range.status} in ${range.ms} ms`)
  for (const [what, res] of [['an uncached segment', segment], ['an uncached playlist', playlist], ['an uncached MP4 range', range]] as const) {
    isUnavailable(t, res, 'LECTERN_ERR_STORAGE_UNAVAILABLE', STORAGE_AWAY, what)
    t.ok(res.ms < BOUND_MS, `${what}: answered in ${res.ms} ms, within ${BOUND_MS} ms`)
  }

  const refused = await timedCall(base, '/api/videos', uploadInit(admin, 'During the hang'))
  t.comment(`an upload while hung: ${refused.status} in ${refused.ms} ms`)
  isUnavailable(t, refused, 'LECTERN_ERR_STORAGE_UNAVAILABLE', STORAGE_AWAY, 'an upload')
  t.ok(refused.ms < BOUND_MS, `the upload answered in ${refused.ms} ms, within ${BOUND_MS} ms`)
  const b64 = (v: string) => Buffer.from(v).toString('base64')
  const resumable = await timedCall(base, '/api/uploads', {
    method: 'POST',
    headers: { ...admin, 'tus-resumable': '1.0.0', 'upload-length': String(256 * 1024), 'upload-metadata': `title ${b64('Resumable during the hang')},filename ${b64('lecture.mp4')},filetype ${b64('video/mp4')}` }
  })
  t.comment(`a resumable upload while hung: ${resumable.status} in ${resumable.ms} ms`)
  isUnavailable(t, resumable, 'LECTERN_ERR_STORAGE_UNAVAILABLE', STORAGE_AWAY, 'a resumable upload')
  t.ok(resumable.ms < BOUND_MS, `the resumable upload answered in ${resumable.ms} ms, within ${BOUND_MS} ms`)
  const mine = await timedCall(base, '/api/videos', { headers: admin })
  t.equal(mine.status, 200, 'the metadata store answers')
  t.same(titles(mine), ['Fixture lecture'], 'no video document for the refused upload')

  await readyWhileHung(t, base, 'storage', 'database', /timed out/)

  // Waves of requests for bytes never read: each answered in the bound, and once they are, the
  // connections Lectern holds to the hung store are not one per request ever made.
  const connections: number[] = []
  for (let wave = 0; wave < 3; wave++) {
    const answers = await Promise.all(Array.from({ length: 16 }, (_v, i) => timedCall(base, `/stream/${video._id}`, { headers: { range: `bytes=${1048576 + i * 1024}-${1048576 + i * 1024 + 1023}` } })))
    const slowest = Math.max(...answers.map((a) => a.ms))
    t.same([...new Set(answers.map((a) => a.status))], [503], `wave ${wave + 1}: 16 uncached ranges, all 503`)
    t.ok(slowest < BOUND_MS, `wave ${wave + 1}: the slowest answered in ${slowest} ms, within ${BOUND_MS} ms`)
    connections.push(await establishedTo(port))
  }
  t.comment(`connections to the hung store after each wave: ${connections.join(', ')}`)
  t.ok(Math.max(...connections) <= 8, `connections held to the hung store stay few once answered (${connections.join(', ')})`)
  t.equal((await call(base, '/health/live')).status, 200, 'the process is up')

  await s3.resume()

  t.ok(await until(async () => (await call(base, seg(1))).status === 200, 30_000), 'uncached segments play after SIGCONT')
  t.ok((await call(base, seg(1))).body.equals(ladder.get('360p/segment-00001.ts')!), 'with their bytes')
  t.equal((await call(base, `/hls/${video._id}/180p/index.m3u8`)).status, 200)
  const laterRange = await call(base, `/stream/${video._id}`, { headers: { range: 'bytes=2097152-2098175' } })
  t.equal(laterRange.status, 206, 'the uncached MP4 range plays')
  t.ok(laterRange.body.equals(mp4.subarray(2097152, 2098176)), 'with its bytes')

  // s3rver has now read what was buffered meanwhile, the refused upload's put included: nothing
  // of it may be left (Lectern deletes it again once the store answers).
  t.ok(await until(async () => (await keysIn(s3, 'originals/')).length === 0, 20_000), `the refused upload left no object (${JSON.stringify(await keysIn(s3, 'originals/'))})`)
  const stored = await timedCall(base, '/api/videos', uploadInit(admin, 'After the hang'))
  t.equal(stored.status, 202, `an upload is taken again (${stored.body.toString().slice(0, 200)})`)
  t.same(await keysIn(s3, 'originals/'), [`originals/${stored.json?.id as string}`], 'and stored, alone')
  t.same(titles(await call(base, '/api/videos', { headers: admin })), ['After the hang', 'Fixture lecture'], 'one more video: the upload that was stored')

  const after = await call(base, '/health/ready')
  t.equal(after.status, 200, 'ready again')
  const ended = after.json?.outages.storage[0]
  t.ok(typeof ended?.to === 'string' && ended.to >= ended.from, `the outage is listed with its end (${JSON.stringify(ended)})`)
})
