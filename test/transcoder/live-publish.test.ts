import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import t from 'tap'
import { chromium, type Browser } from 'playwright-core'
import type { Video } from '../../src/db/documents.js'
import { videoKeys } from '../../src/db/documents.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { makeClip } from '../helpers/media.js'
import { requireToolsForFile, toolPath } from '../helpers/requirements.js'
import { getVideo, silentLog, until, uploadVideo } from './fixtures.js'

// A video plays while it is still being transcoded: players that start once the first segments
// are published (ffmpeg's HLS client, and hls.js in Chromium) play it through to the end as its
// playlists grow, and the figures viewers were told while it grew were true.

requireToolsForFile(t, 'ffmpeg', 'ffprobe', 'chromium')

const SECONDS = 30
const FPS = 30
const require = createRequire(import.meta.url)
const { app, config } = await buildTestApp(t)
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const clip = await makeClip({ seconds: SECONDS, width: 960, height: 540, fps: FPS }, t)
const { id } = await uploadVideo({ storage: app.storage, db: app.db }, clip)

const browser: Browser = await chromium.launch({
  executablePath: toolPath('chromium'),
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required']
})
t.teardown(() => browser.close())

/** Segment lines and type of a media playlist. */
function mediaPlaylist (text: string): { type: string | undefined, ended: boolean, segments: Array<{ uri: string, duration: number }> } {
  const lines = text.split('\n')
  const segments: Array<{ uri: string, duration: number }> = []
  lines.forEach((line, i) => {
    if (line.startsWith('#EXTINF:')) segments.push({ duration: Number(line.slice(8).split(',')[0]), uri: lines[i + 1]!.split('?')[0]! })
  })
  return { type: lines.find((l) => l.startsWith('#EXT-X-PLAYLIST-TYPE:'))?.slice(21), ended: lines.includes('#EXT-X-ENDLIST'), segments }
}

function variants (master: string): Array<{ bandwidth: number, uri: string }> {
  const lines = master.split('\n')
  return lines.flatMap((line, i) => line.startsWith('#EXT-X-STREAM-INF:')
    ? [{ bandwidth: Number(/BANDWIDTH=(\d+)/.exec(line)![1]), uri: lines[i + 1]!.split('?')[0]! }]
    : [])
}

t.test('players start while the job runs and play to the end as the playlists grow', async (t) => {
  // A slower preset than production's so that the job runs long enough to be watched while it does.
  const job = transcodeVideo({
    db: app.db, storage: app.storage, config, log: silentLog, signal: new AbortController().signal,
    tmpRoot: await tempDir(t), encode: { preset: 'slow' }, publishIntervalMs: 250
  }, id)
  let finished = false
  job.then(() => { finished = true }, () => { finished = true })

  await until('the video is playable', async () => (await getVideo(app.db, id)).playable === true || finished, 120_000)
  const live = await getVideo(app.db, id)
  t.equal(live.status, 'processing', 'playable while its status is still processing')
  t.equal(live.playable, true)

  const view = await (await fetch(`${base}/api/videos/${id}`)).json() as { status: string, playable: boolean }
  t.match(view, { status: 'processing', playable: true }, 'the API says so')

  const stream = await fetch(`${base}/stream/${id}`)
  const streamBody = await stream.json() as { message: string }
  t.equal(stream.status, 409, 'the progressive MP4 is not there yet')
  t.match(streamBody.message, /still being transcoded.*\/hls\//, `and the answer says to play by HLS meanwhile (${streamBody.message})`)

  const master = await (await fetch(`${base}/hls/${id}/master.m3u8`)).text()
  const listed = variants(master)
  t.same(listed.map((v) => v.uri.split('/')[0]).sort(), live.renditions.map((r) => r.name).sort(), 'the master lists every rung already')

  const lowest = live.renditions.at(-1)!.name
  const first = await fetch(`${base}/hls/${id}/${lowest}/index.m3u8`)
  const firstPlaylist = mediaPlaylist(await first.text())
  t.equal(firstPlaylist.type, 'EVENT', 'a media playlist of a running job is an EVENT playlist')
  t.notOk(firstPlaylist.ended, 'without EXT-X-ENDLIST')
  t.equal(first.headers.get('cache-control'), 'public, max-age=1', 'kept only briefly by any cache')
  t.ok(firstPlaylist.segments.length >= 1 && firstPlaylist.segments.length < Math.floor(SECONDS / config.hlsSegmentSeconds),
    `it lists part of the video (${firstPlaylist.segments.length} segments)`)

  // ffmpeg as an HLS client, from the first segment, following the playlists until they end.
  const ffmpeg = spawn(toolPath('ffmpeg'), ['-hide_banner', '-nostdin', '-v', 'error', '-live_start_index', '0', '-i', `${base}/hls/${id}/master.m3u8`, '-map', '0:v:0', '-f', 'framecrc', '-'])
  let frames = ''
  let errors = ''
  ffmpeg.stdout.on('data', (d: Buffer) => { frames += d.toString() })
  ffmpeg.stderr.on('data', (d: Buffer) => { errors += d.toString() })
  const ffmpegDone = new Promise<number | null>((resolve) => ffmpeg.on('close', resolve))

  // hls.js in Chromium, on Lectern's origin, played at 4x so it catches up with the encode.
  const page = await browser.newPage()
  await page.goto(`${base}/health/live`)
  await page.setContent('<!doctype html><video id="v" muted playsinline></video>')
  await page.addScriptTag({ content: await readFile(require.resolve('hls.js/dist/hls.min.js'), 'utf8') })
  const played = page.evaluate(`(async (src) => {
    const el = document.getElementById('v')
    const hls = new Hls({ startPosition: 0 })
    const errors = []
    let fatal = false
    hls.on(Hls.Events.ERROR, (e, d) => { errors.push(d.details + (d.fatal ? ' fatal' : '')); if (d.fatal) fatal = true })
    hls.loadSource(src)
    hls.attachMedia(el)
    el.playbackRate = 4
    el.play().catch((err) => { errors.push('play: ' + err.message + ' fatal'); fatal = true })
    const start = Date.now()
    await new Promise((resolve) => {
      const tick = () => { if (el.ended || fatal || Date.now() - start > 240000) resolve(); else setTimeout(tick, 100) }
      tick()
    })
    const result = { ended: el.ended, currentTime: el.currentTime, errors }
    hls.destroy()
    return result
  })(${JSON.stringify(`${base}/hls/${id}/master.m3u8`)})`) as Promise<{ ended: boolean, currentTime: number, errors: string[] }>

  // Lectern's own watch page, as a student opening the link would: it plays before the job ends.
  const watch = await browser.newPage()
  await watch.goto(`${base}/watch/${id}`)
  // (The viewer presses play once the player has something to show; muted, as autoplay wants.)
  // A function, not a string: the page's CSP refuses eval.
  const watchPlayed = watch.waitForFunction(() => {
    const el = (globalThis as unknown as { document: { querySelector: (s: string) => { paused: boolean, readyState: number, muted: boolean, currentTime: number, play: () => Promise<void> } | null } }).document.querySelector('video')
    if (el === null) return false
    if (el.paused && el.readyState >= 2) { el.muted = true; el.play().catch(() => {}) }
    return el.currentTime > 2
  }, undefined, { timeout: 120_000, polling: 200 }).then(() => ({ playedBeforeTheEnd: !finished }), (err: Error) => ({ playedBeforeTheEnd: false, error: err.message }))

  // The playlist as a poller sees it while the job runs: it only grows.
  const counts: number[] = []
  while (!finished) {
    const playlist = mediaPlaylist(await (await fetch(`${base}/hls/${id}/${lowest}/index.m3u8`)).text())
    counts.push(playlist.segments.length)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  await job
  t.ok(counts.every((c, i) => i === 0 || c >= counts[i - 1]!), 'segments are never taken back')
  t.ok(counts.at(-1)! > firstPlaylist.segments.length, `the playlist grew while the job ran (${firstPlaylist.segments.length} -> ${counts.at(-1)} segments)`)

  t.equal(await ffmpegDone, 0, 'ffmpeg played to the end of the playlists and exited')
  t.equal(errors.trim(), '', 'without a single error')
  const decoded = frames.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length
  t.equal(decoded, SECONDS * FPS, `every frame of the source was decoded (${decoded})`)

  const onWatchPage = await watchPlayed
  t.ok(onWatchPage.playedBeforeTheEnd, `the watch page played the video while it was still being transcoded ${JSON.stringify(onWatchPage)}`)
  await watch.close()

  const result = await played
  t.ok(result.ended, `hls.js played to the end (${result.currentTime.toFixed(2)} s)`)
  t.same(result.errors.filter((e) => e.includes('fatal')), [], `no fatal error (${result.errors.join(', ') || 'none'})`)
  await page.close()

  // Ready: VOD playlists that end, the MP4, and one set of outputs.
  const ready = await getVideo(app.db, id)
  t.equal(ready.status, 'ready')
  const after = mediaPlaylist(await (await fetch(`${base}/hls/${id}/${lowest}/index.m3u8`)).text())
  t.equal(after.type, 'VOD')
  t.ok(after.ended, 'the final playlist ends')
  t.equal((await fetch(`${base}/stream/${id}`, { headers: { range: 'bytes=0-99' } })).status, 206, 'the MP4 is there')
  const stored = await app.storage.list(videoKeys.prefix(id))
  t.same([...new Set(stored.map((o) => o.key.split('/')[2]))], [ready.version], 'one set of outputs in storage')

  // What viewers were told while it grew was an upper bound of every segment's real bitrate,
  // computed here from the stored segments' sizes and their durations in the final playlists.
  for (const rendition of live.renditions) {
    const playlist = mediaPlaylist(await (await fetch(`${base}/hls/${id}/${rendition.name}/index.m3u8`)).text())
    const sizes = new Map(stored.map((o) => [o.key, o.size]))
    const peak = Math.max(...playlist.segments.slice(0, -1).map((s) => sizes.get(videoKeys.segment(id, ready.version!, rendition.name, s.uri))! * 8 / s.duration))
    t.ok(rendition.bandwidth >= peak, `${rendition.name}: BANDWIDTH while live ${rendition.bandwidth} >= the largest segment bitrate ${Math.round(peak)}`)
    t.ok(rendition.bandwidth <= 3 * peak, `${rendition.name}: and not absurdly above it`)
  }
})

t.test('a video that is not playable yet answers as before', async (t) => {
  const fresh = await uploadVideo({ storage: app.storage, db: app.db }, clip)
  const answer = await fetch(`${base}/hls/${fresh.id}/master.m3u8`)
  t.equal(answer.status, 404, 'a public video with nothing published is not found by anyone but its owner')
  const view = await getVideo(app.db, fresh.id)
  t.equal(view.playable, undefined)
  void (view satisfies Video)
})
