import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { buildTestApp } from '../helpers/app.js'
import { mediaDir } from '../helpers/media.js'
import { makeLadder, publishVideo } from './fixtures.js'
import { request } from './http.js'
import { forgeAccessToken, forgePlaybackToken } from '../helpers/forge.js'
import { insertAccount } from '../plugins/accounts.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import type { Video } from '../../src/db/documents.js'
import { segmentName } from '../../src/db/documents.js'

const execFileAsync = promisify(execFile)

const ladder = await makeLadder(t)
const SECRET = 'the server secret of this test, 32 characters or more'
const { app } = await buildTestApp(t, { JWT_SECRET: SECRET })
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const pub = await publishVideo(app, ladder)
const id = pub.video._id
const version = pub.video.version!
const stored = (name: string) => pub.objects.get(`videos/${id}/${version}/${name}`)!
const segmentsOf = (rendition: string) => [...ladder.keys()].filter((k) => k.startsWith(rendition + '/segment-')).sort()

// The view count is a write delivery does not wait for; the test does, through the videos
// collection's updateOne, watched.
const viewWrites: Array<Promise<unknown>> = []
const collectionOf = app.db.collection.bind(app.db)
app.db.collection = ((name: string) => {
  const collection = collectionOf(name)
  if (name !== VIDEOS) return collection
  return new Proxy(collection, {
    get (target, property) {
      const value = Reflect.get(target, property, target) as unknown
      if (property === 'updateOne') {
        return (...args: Parameters<typeof target.updateOne>) => {
          const write = target.updateOne(...args)
          viewWrites.push(write)
          return write
        }
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    }
  })
}) as typeof app.db.collection
const settledViews = async () => { await Promise.all(viewWrites.splice(0)) }

async function views (videoId: string): Promise<number> {
  return (await app.db.collection<Video>(VIDEOS).findOne({ _id: videoId }))!.views
}

t.test('master and media playlists, segments and poster: bytes, types and caching', async (t) => {
  const master = await request(base, `/hls/${id}/master.m3u8`)
  t.equal(master.status, 200)
  t.equal(master.headers['content-type'], 'application/vnd.apple.mpegurl')
  t.equal(master.headers['cache-control'], 'private, no-store', 'a master carries its viewing session: for one viewer only')
  const sid = /\?sid=([A-Za-z0-9_-]{22})$/m.exec(master.body.toString())?.[1]
  t.ok(sid, 'a session id is issued')
  // The stored master's variants, each with the session id, nothing else changed (the order is the estimator's).
  const variants = (text: string) => text.split('#EXT-X-STREAM-INF:').slice(1).map((v) => v.trim()).sort()
  t.same(variants(master.body.toString()), variants(stored('master.m3u8').toString().replace(/index\.m3u8$/gm, `index.m3u8?sid=${sid!}`)))
  t.equal(master.body.toString().split('#EXT-X-STREAM-INF:')[0], stored('master.m3u8').toString().split('#EXT-X-STREAM-INF:')[0], 'the header tags are kept')
  t.match(master.headers.etag, /^"[^"]+"$/)
  t.equal(master.headers['accept-ranges'], 'bytes')

  const media = await request(base, `/hls/${id}/360p/index.m3u8`)
  t.equal(media.status, 200)
  t.equal(media.headers['content-type'], 'application/vnd.apple.mpegurl')
  t.ok(media.body.equals(stored('360p/index.m3u8')))

  const names = segmentsOf('360p')
  t.ok(names.length >= 3, 'the fixture has several segments')
  for (const name of names) {
    const seg = await request(base, `/hls/${id}/${name}`)
    t.equal(seg.status, 200, name)
    t.equal(seg.headers['content-type'], 'video/mp2t')
    t.equal(seg.headers['cache-control'], 'public, max-age=31536000, immutable')
    t.ok(seg.body.equals(stored(name)), `${name} byte-exact`)
  }
  const partial = await request(base, `/hls/${id}/${names[0]!}`, { headers: { range: 'bytes=188-375' } })
  t.equal(partial.status, 206)
  t.ok(partial.body.equals(stored(names[0]!).subarray(188, 376)))

  for (const path of [`/hls/${id}/poster.jpg`, `/poster/${id}`]) {
    const poster = await request(base, path)
    t.equal(poster.status, 200)
    t.equal(poster.headers['content-type'], 'image/jpeg')
    t.ok(poster.body.equals(stored('poster.jpg')))
  }
})

t.test('a cached segment is answered without touching storage, with the same answer as the first time', async (t) => {
  const name = segmentsOf('180p')[0]!
  const first = await request(base, `/hls/${id}/${name}`)
  const firstRange = await request(base, `/hls/${id}/${name}`, { headers: { range: 'bytes=-188' } })
  const before = app.cache.stats().originReads
  t.equal(app.server.listeners('request').map((l) => l.name).join(), 'deliveryFastPath', 'hits are answered ahead of the router')
  const again = await request(base, `/hls/${id}/${name}`)
  t.ok(again.body.equals(stored(name)))
  const { date: _d1, ...firstHeaders } = first.headers
  const { date: _d2, ...againHeaders } = again.headers
  t.same(againHeaders, firstHeaders, 'a hit carries exactly the headers of the miss')
  const againRange = await request(base, `/hls/${id}/${name}`, { headers: { range: 'bytes=-188' } })
  t.equal(againRange.status, 206)
  t.ok(againRange.body.equals(firstRange.body))
  t.equal(againRange.headers['content-range'], firstRange.headers['content-range'])
  const head = await request(base, `/hls/${id}/${name}`, { method: 'HEAD' })
  t.equal(head.body.length, 0)
  t.equal(head.headers['content-length'], String(stored(name).length))
  const revalidated = await request(base, `/hls/${id}/${name}`, { headers: { 'if-none-match': again.headers.etag! } })
  t.equal(revalidated.status, 304)
  t.equal(app.cache.stats().originReads, before)
  const media = await request(base, `/hls/${id}/180p/index.m3u8`)
  t.equal((await request(base, `/hls/${id}/180p/index.m3u8`)).headers.etag, media.headers.etag)
})

t.test('path parameters cannot name anything outside the video', async (t) => {
  const attempts = [
    `/hls/${id}/..%2F..%2F..%2Foriginals/index.m3u8`,
    `/hls/${id}/360p/..%2Fmaster.m3u8`,
    `/hls/${id}/360p/..%2F..%2F..%2F..%2Fjwt-secret`,
    `/hls/${id}/%2e%2e/index.m3u8`,
    `/hls/${id}/360p/%2e%2e%2fposter.jpg`,
    `/hls/${id}/360p/%252e%252e%252fposter.jpg`,
    `/hls/${id}/%252e%252e%252f/index.m3u8`,
    `/hls/${id}/360p/segment-00000.ts%00.jpg`,
    `/hls/${id}/360p/..%5c..%5cposter.jpg`,
    `/hls/${id}/1080p/index.m3u8`,
    `/hls/${id}/360p/segment-0.ts`,
    `/hls/${id}/360p/segment-99999.ts`,
    `/hls/${id}/360p/index.m3u8.bak`,
    `/hls/..%2F${id}/master.m3u8`,
    '/hls/%2e%2e%2f%2e%2e%2foriginals/master.m3u8'
  ]
  for (const path of attempts) {
    const r = await request(base, path)
    t.ok(r.status === 400 || r.status === 404, `${path} -> ${r.status}`)
    t.equal(r.headers['content-type'], 'application/json; charset=utf-8', `${path}: an error body, not an object`)
  }
  const tooFar = await request(base, `/hls/${id}/360p/${segmentName(segmentsOf('360p').length)}`)
  t.equal(tooFar.status, 404)
  t.match(JSON.parse(tooFar.body.toString()).message, /has \d+ segments/)
})

t.test('ffmpeg plays the HLS master playlist over HTTP', async (t) => {
  const dir = await mediaDir(t)
  const out = join(dir, 'out.mp4')
  await execFileAsync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', `${base}/hls/${id}/master.m3u8`, '-map', '0:v:0', '-map', '0:a:0', '-c', 'copy', out], { timeout: 60_000 })
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type', '-of', 'json', out])
  const probe = JSON.parse(stdout) as { format: { duration: string }, streams: Array<{ codec_type: string }> }
  t.ok(Math.abs(Number(probe.format.duration) - 4) < 0.6, `duration ${probe.format.duration} ~ 4 s`)
  t.same(probe.streams.map((s) => s.codec_type).sort(), ['audio', 'video'])
})

t.test('a view counts once per viewing session, not per request', async (t) => {
  const v = await publishVideo(app, ladder)
  const vid = v.video._id
  const headers = { 'user-agent': 'player-A' }
  for (let i = 0; i < 3; i++) {
    await request(base, `/hls/${vid}/master.m3u8`, { headers })
    await request(base, `/hls/${vid}/360p/index.m3u8`, { headers })
    await request(base, `/hls/${vid}/360p/segment-00000.ts`, { headers })
    await request(base, `/stream/${vid}`, { headers: { ...headers, range: 'bytes=0-99' } })
  }
  await request(base, `/hls/${vid}/master.m3u8`, { method: 'HEAD', headers: { 'user-agent': 'a-prober' } })
  await settledViews()
  t.equal(await views(vid), 1, 'one session, one view')
  await request(base, `/hls/${vid}/master.m3u8`, { headers: { 'user-agent': 'player-B' } })
  await settledViews()
  t.equal(await views(vid), 2, 'another session is another view')
})

t.test('unlisted and private videos play with a playback token', async (t) => {
  const unlisted = await publishVideo(app, ladder, { visibility: 'unlisted' })
  const uid = unlisted.video._id
  const other = await publishVideo(app, ladder, { visibility: 'unlisted' })

  // Without a token an unlisted video is answered exactly as a missing one (see test/plugins/access-private-missing.test.ts).
  const refused = await request(base, `/hls/${uid}/master.m3u8`)
  t.equal(refused.status, 404)
  t.match(JSON.parse(refused.body.toString()).message, `No video ${uid}`)
  t.equal((await request(base, `/stream/${uid}`)).status, 404)
  t.equal((await request(base, `/hls/${uid}/360p/segment-00000.ts`)).status, 404)

  const issued = await request(base, `/api/videos/${uid}/playback`)
  t.equal(issued.status, 200)
  t.equal(issued.headers['cache-control'], 'private, no-store')
  const playback = JSON.parse(issued.body.toString()) as { token: string, expiresAt: string, hlsUrl: string, streamUrl: string }
  t.ok(Date.parse(playback.expiresAt) > Date.now() + (app.config.playbackTokenTtlSeconds - 60) * 1000, 'expires after the configured TTL')
  t.match(playback.hlsUrl, new RegExp(`^/hls/${uid}/master\\.m3u8\\?token=${encodeURIComponent(playback.token).replace(/\./g, '\\.')}&sid=[A-Za-z0-9_-]{22}$`))
  t.equal(playback.streamUrl, `/stream/${uid}?token=${encodeURIComponent(playback.token)}`)

  const master = await request(base, playback.hlsUrl)
  t.equal(master.status, 200)
  t.equal(master.headers['cache-control'], 'private, no-store')
  const uris = master.body.toString().split('\n').filter((l) => l !== '' && !l.startsWith('#'))
  t.ok(uris.length === 2 && uris.every((u) => u.includes(`?token=${encodeURIComponent(playback.token)}&sid=`)), 'every variant URI carries the token and the session')
  const media = await request(base, `/hls/${uid}/${uris[0]}`)
  t.equal(media.status, 200)
  const segs = media.body.toString().split('\n').filter((l) => l !== '' && !l.startsWith('#'))
  t.ok(segs.length > 0 && segs.every((u) => /^segment-\d{5}\.ts\?token=[^&]+&sid=/.test(u)), 'every segment URI carries the token and the session')
  const seg = await request(base, `/hls/${uid}/360p/${segs[0]}`)
  t.equal(seg.status, 200)
  t.equal(seg.headers['cache-control'], 'private, max-age=31536000, immutable')
  t.ok(seg.body.equals(unlisted.objects.get(`videos/${uid}/${unlisted.video.version}/360p/segment-00000.ts`)!))
  t.equal((await request(base, playback.streamUrl, { headers: { range: 'bytes=0-9' } })).status, 206)

  // The rewritten playlist's validator differs per token, and revalidates.
  t.equal((await request(base, playback.hlsUrl, { headers: { 'if-none-match': master.headers.etag! } })).status, 304)
  t.not(master.headers.etag, (await request(base, `/hls/${pub.video._id}/master.m3u8`)).headers.etag)

  // Tokens made here from the documented format, not by Lectern's code.
  const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s
  const forged = forgePlaybackToken(SECRET, uid, inSeconds(600))
  for (const path of [`/hls/${uid}/master.m3u8`, `/hls/${uid}/360p/segment-00000.ts`, `/stream/${uid}`]) {
    t.equal((await request(base, `${path}?token=${encodeURIComponent(forged)}`)).status, 200, `a token made from the documented format opens ${path}`)
  }
  const expired = forgePlaybackToken(SECRET, uid, inSeconds(-3540))
  const forOther = forgePlaybackToken(SECRET, other.video._id, inSeconds(600))
  const [exp, epoch, sig] = playback.token.split('.') as [string, string, string]
  const tampered = `${Number(exp) + 1}.${epoch}.${sig}`
  // Only a genuine token that ran out is told so (403); any other is answered as a missing video.
  for (const [what, token, status] of [['expired', expired, 403], ['another video', forOther, 404], ['tampered', tampered, 404], ['garbage', 'x', 404]] as const) {
    for (const path of [`/hls/${uid}/master.m3u8`, `/hls/${uid}/360p/segment-00000.ts`, `/stream/${uid}`]) {
      const r = await request(base, `${path}?token=${encodeURIComponent(token)}`)
      t.equal(r.status, status, `${what}: ${path}`)
    }
  }
  t.match(JSON.parse((await request(base, `/stream/${uid}?token=${encodeURIComponent(expired)}`)).body.toString()).message, /expired/)

  // ffmpeg follows the rewritten URIs with nothing but the master URL.
  const dir = await mediaDir(t)
  await execFileAsync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', base + playback.hlsUrl, '-map', '0:v:0', '-c', 'copy', join(dir, 'private.mp4')], { timeout: 60_000 })
})

t.test('private videos: a token only for the owner; not-ready videos: 409 for the owner, 404 for others', async (t) => {
  const owner = '0123456789abcdef0123'
  await insertAccount(app, owner)
  await insertAccount(app, 'fedcba9876543210fedc')
  const ownerToken = forgeAccessToken(SECRET, owner)
  const strangerToken = forgeAccessToken(SECRET, 'fedcba9876543210fedc')
  const priv = await publishVideo(app, ladder, { visibility: 'private', owner })
  const path = `/api/videos/${priv.video._id}/playback`
  t.equal((await request(base, path)).status, 404)
  t.equal((await request(base, path, { headers: { authorization: `Bearer ${strangerToken}` } })).status, 404)
  const mine = await request(base, path, { headers: { authorization: `Bearer ${ownerToken}` } })
  t.equal(mine.status, 200)
  const { hlsUrl } = JSON.parse(mine.body.toString()) as { hlsUrl: string }
  t.equal((await request(base, hlsUrl)).status, 200)

  // The owner may fetch without a playback token; what they get is private to them, so no shared
  // cache in front of Lectern keeps a private video's bytes for other viewers.
  const asOwner = { headers: { authorization: `Bearer ${ownerToken}` } }
  const ownMaster = await request(base, `/hls/${priv.video._id}/master.m3u8`, asOwner)
  t.equal(ownMaster.status, 200)
  t.equal(ownMaster.headers['cache-control'], 'private, no-store')
  const ownSegment = await request(base, `/hls/${priv.video._id}/360p/segment-00000.ts`, asOwner)
  t.equal(ownSegment.status, 200)
  t.equal(ownSegment.headers['cache-control'], 'private, max-age=31536000, immutable')
  const ownRange = await request(base, `/stream/${priv.video._id}`, { headers: { ...asOwner.headers, range: 'bytes=0-9' } })
  t.equal(ownRange.status, 206)
  t.equal(ownRange.headers['cache-control'], 'private, max-age=31536000, immutable')

  const processing = await publishVideo(app, ladder, { status: 'processing', owner })
  const media = `/hls/${processing.video._id}/master.m3u8`
  t.equal((await request(base, media)).status, 404)
  t.equal((await request(base, media, { headers: { authorization: `Bearer ${strangerToken}` } })).status, 404)
  const conflict = await request(base, media, { headers: { authorization: `Bearer ${ownerToken}` } })
  t.equal(conflict.status, 409)
  t.match(JSON.parse(conflict.body.toString()).message, /processing/)
  t.equal((await request(base, `/api/videos/${processing.video._id}/playback`, { headers: { authorization: `Bearer ${ownerToken}` } })).status, 409)
})
