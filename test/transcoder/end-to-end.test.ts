import { readFile } from 'node:fs/promises'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { makeClip } from '../helpers/media.js'
import { multipartBody } from '../plugins/multipart-body.js'
import { registerAccount } from '../plugins/accounts.js'
import { until, untilMidEncode } from './fixtures.js'
import { requireToolsForFile } from '../helpers/requirements.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

// Upload through the API, transcode with the inline worker, watch through the delivery routes:
// the transcoder's outputs as the rest of Lectern serves them.

async function waitForStatus (app: Awaited<ReturnType<typeof buildTestApp>>['app'], id: string, done: (v: any) => boolean): Promise<any> {
  const keepAlive = setInterval(() => {}, 1000)
  try {
    for (;;) {
      const res = await app.inject({ url: `/api/videos/${id}` })
      if (res.statusCode !== 200) throw new Error(`GET video: ${res.statusCode} ${res.body}`)
      const v = res.json()
      if (done(v)) return v
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    clearInterval(keepAlive)
  }
}

t.test('upload -> inline transcode -> HLS and progressive delivery', async (t) => {
  const { app } = await buildTestApp(t, { WORKER: 'inline' })
  const owner = await registerAccount(app)
  const clip = await readFile(await makeClip({ seconds: 6, width: 640, height: 360 }, t))
  const { payload, headers } = multipartBody([
    { name: 'title', value: 'Optics' },
    { name: 'visibility', value: 'public' },
    { name: 'file', filename: 'optics.mp4', content: clip }
  ])
  const res = await app.inject({ method: 'POST', url: '/api/videos', payload, headers: { ...headers, ...owner.auth } })
  t.equal(res.statusCode, 202, res.body)
  const id = res.json().id as string

  const progress: number[] = []
  const video = await waitForStatus(app, id, (v) => { progress.push(v.progress); return v.status === 'ready' || v.status === 'failed' })
  t.equal(video.status, 'ready', video.failureReason ?? '')
  t.ok(progress.some((p) => p > 0 && p < 1), 'the API showed progress while processing')

  const master = await app.inject({ url: `/hls/${id}/master.m3u8` })
  t.equal(master.statusCode, 200)
  t.match(master.body, /#EXT-X-STREAM-INF:BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS="avc1\.64[0-9a-f]{4},mp4a\.40\.2",RESOLUTION=640x360/)
  const media = await app.inject({ url: `/hls/${id}/360p/index.m3u8` })
  t.equal(media.statusCode, 200)
  t.match(media.body, /#EXT-X-PLAYLIST-TYPE:VOD/)
  const segmentUri = media.body.split('\n').find((l) => l.includes('segment-00000.ts'))!
  const segment = await app.inject({ url: segmentUri.startsWith('/') ? segmentUri : `/hls/${id}/360p/${segmentUri}` })
  t.equal(segment.statusCode, 200)
  t.equal(segment.rawPayload[0], 0x47, 'an MPEG-TS segment')

  const head = await app.inject({ url: `/stream/${id}`, headers: { range: 'bytes=0-15' } })
  t.equal(head.statusCode, 206)
  t.equal(head.rawPayload.subarray(4, 8).toString(), 'ftyp', 'the progressive MP4')
})

t.test('deleting a video while it transcodes stops the job and leaves nothing behind', async (t) => {
  const { app } = await buildTestApp(t, { WORKER: 'inline' })
  const owner = await registerAccount(app)
  const clip = await readFile(await makeClip({ seconds: 20, width: 640, height: 360 }, t))
  const { payload, headers } = multipartBody([{ name: 'title', value: 'Long' }, { name: 'file', filename: 'long.mp4', content: clip }])
  const res = await app.inject({ method: 'POST', url: '/api/videos', payload, headers: { ...headers, ...owner.auth } })
  t.equal(res.statusCode, 202, res.body)
  const id = res.json().id as string
  await untilMidEncode(async () => (await app.inject({ url: `/api/videos/${id}` })).json() as { status: string, progress: number })
  const del = await app.inject({ method: 'DELETE', url: `/api/videos/${id}`, headers: owner.auth })
  t.equal(del.statusCode, 204, del.body)
  // The worker sees the cancel at its next renewal (within 5 s) and removes what it wrote.
  await until('the worker to let go of the cancelled job', () => app.transcodeWorker?.currentJob === null, 30_000)
  t.same(await app.storage.list(`videos/${id}/`), [], 'no objects left')
  t.equal((await app.inject({ url: `/api/videos/${id}` })).statusCode, 404)
  t.equal((await app.db.collection('jobs').findOne({ videoId: id }) as any)?.state, 'cancelled')
})
