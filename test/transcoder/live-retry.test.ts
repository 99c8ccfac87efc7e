import t from 'tap'
import { videoKeys } from '../../src/db/documents.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { TranscodeAbortedError } from '../../transcoder/transcode-error.js'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { makeClip } from '../helpers/media.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { getVideo, silentLog, until, uploadVideo } from './fixtures.js'

// A job that stops after its video became playable (its worker lost the lease or died) is run
// again from zero. A viewer must never hold a playlist that lists a segment that is not there:
// the published version keeps playing (its playlist waits at its end, as a live one does) until
// the new attempt has at least as many segments in every rung, then the new one takes over under
// the same URLs, and when it ends the earlier version is removed.

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

const { app, config } = await buildTestApp(t)
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const clip = await makeClip({ seconds: 24, width: 640, height: 360 }, t)

function listed (playlist: string): string[] {
  return playlist.split('\n').filter((l) => l.startsWith('segment-')).map((l) => l.split('?')[0]!)
}

t.test('a retried job takes over from the version viewers play without cutting it short', async (t) => {
  const { id } = await uploadVideo({ storage: app.storage, db: app.db }, clip)
  const tmpRoot = await tempDir(t)

  // Attempt 1: slow enough to be stopped mid-way, once a few segments are playable.
  const first = new AbortController()
  const attempt1 = transcodeVideo({ db: app.db, storage: app.storage, config, log: silentLog, signal: first.signal, tmpRoot, encode: { preset: 'slow' }, publishIntervalMs: 200 }, id)
  attempt1.catch(() => {})
  // The document counts a tick's segments before that tick stores the playlists that list them
  // (a playlist never lists what the document does not count), so the wait is for both: stopped
  // in between, the playlists list one tick less than the document says.
  const listedNow = async (): Promise<number> => {
    const video = await getVideo(app.db, id)
    if ((video.publishedSeconds ?? 0) < 2 * config.hlsSegmentSeconds) return 0
    const res = await fetch(`${base}/hls/${id}/${video.renditions.at(-1)!.name}/index.m3u8`)
    return res.status === 200 ? listed(await res.text()).length : 0
  }
  await until('two segments of every rung are playable and listed', async () => await listedNow() >= 2, 120_000)
  first.abort(new TranscodeAbortedError('lease-lost'))
  await t.rejects(attempt1, TranscodeAbortedError)

  const stopped = await getVideo(app.db, id)
  t.equal(stopped.playable, true, 'the video stays playable after its job stopped')
  const rung = stopped.renditions.at(-1)!.name
  const before = listed(await (await fetch(`${base}/hls/${id}/${rung}/index.m3u8`)).text())
  t.ok(before.length >= 2, `its playlist lists what was published (${before.length} segments)`)
  for (const s of before) t.equal((await fetch(`${base}/hls/${id}/${rung}/${s}`)).status, 200, `${s} is there`)

  // Attempt 2, from zero, watched by a viewer who reloads the playlist and fetches its last segment.
  let done = false
  const attempt2 = transcodeVideo({ db: app.db, storage: app.storage, config, log: silentLog, signal: new AbortController().signal, tmpRoot, publishIntervalMs: 200 }, id)
    .finally(() => { done = true })
  const seen: number[] = []
  const broken: string[] = []
  const versions = new Set<string>()
  while (!done) {
    const video = await getVideo(app.db, id)
    if (video.version !== null) versions.add(video.version)
    const segments = listed(await (await fetch(`${base}/hls/${id}/${rung}/index.m3u8`)).text())
    seen.push(segments.length)
    const last = segments.at(-1)
    if (last !== undefined) {
      const status = (await fetch(`${base}/hls/${id}/${rung}/${last}`)).status
      if (status !== 200) broken.push(`${last}: ${status}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const result = await attempt2
  t.ok(seen.every((n) => n >= before.length), `the playlist never listed fewer segments than before the retry (${Math.min(...seen)} >= ${before.length})`)
  t.ok(seen.every((n, i) => i === 0 || n >= seen[i - 1]!), 'and never shrank')
  t.same(broken, [], 'every segment a playlist listed could be fetched')
  t.ok(versions.has(stopped.version!) && versions.has(result.version), 'viewers moved from the first attempt\'s version to the second\'s')

  const ready = await getVideo(app.db, id)
  t.equal(ready.status, 'ready')
  const stored = new Set((await app.storage.list(videoKeys.prefix(id))).map((o) => o.key.split('/')[2]))
  t.same([...stored], [ready.version], 'the earlier version is removed: one set of outputs')
})

t.test('a job cancelled after it was published leaves nothing', async (t) => {
  const { id } = await uploadVideo({ storage: app.storage, db: app.db }, clip)
  const controller = new AbortController()
  const job = transcodeVideo({ db: app.db, storage: app.storage, config, log: silentLog, signal: controller.signal, tmpRoot: await tempDir(t), encode: { preset: 'slow' }, publishIntervalMs: 200 }, id)
  job.catch(() => {})
  await until('playable', async () => (await getVideo(app.db, id)).playable === true, 120_000)
  controller.abort(new TranscodeAbortedError('cancelled'))
  await t.rejects(job, TranscodeAbortedError)
  t.same(await app.storage.list(videoKeys.prefix(id)), [], 'nothing stored')
  t.equal((await getVideo(app.db, id)).playable, false, 'and the video is no longer playable')
  t.equal((await fetch(`${base}/hls/${id}/master.m3u8`)).status, 404)
})
