import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import t from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Video } from '../../src/db/documents.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { makeClip } from '../helpers/media.js'
import { requireToolsForFile, toolPath } from '../helpers/requirements.js'
import { getVideo, silentLog, uploadVideo } from './fixtures.js'
import { registerAccount } from '../plugins/accounts.js'

// hls.js in Chromium plays what the transcoder made, through Lectern's own routes: buildApp on a
// socket, /hls/:id/master.m3u8 with its viewing session, the media playlists and segments, and
// for a private video the playback token that playlist rewriting carries to every URI.

requireToolsForFile(t, 'ffmpeg', 'ffprobe', 'chromium')

const require = createRequire(import.meta.url)
const { app, config } = await buildTestApp(t)
const owner = await registerAccount(app)
const clip = await makeClip({ seconds: 20, width: 960, height: 540 }, t)
const { id } = await uploadVideo({ storage: app.storage, db: app.db }, clip)
await app.db.collection<Video>(VIDEOS).updateOne({ _id: id }, { $set: { owner: owner.id } })
await transcodeVideo({ db: app.db, storage: app.storage, config, log: silentLog, signal: new AbortController().signal, tmpRoot: await tempDir(t) }, id)
const video = await getVideo(app.db, id)
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const hlsJs = await readFile(require.resolve('hls.js/dist/hls.min.js'), 'utf8')

const browser: Browser = await chromium.launch({
  executablePath: toolPath('chromium'),
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required']
})
t.teardown(() => browser.close())

interface Fetched { url: string, status: number }

/** A page on Lectern's origin (so nothing is cross-origin) holding a video element and hls.js, with every response it gets recorded. */
async function playerPage (): Promise<{ page: Page, fetched: Fetched[] }> {
  const page = await browser.newPage()
  const fetched: Fetched[] = []
  page.on('response', (res) => { fetched.push({ url: res.url(), status: res.status() }) })
  await page.goto(`${base}/health/live`)
  await page.setContent('<!doctype html><video id="v" muted playsinline></video>')
  await page.addScriptTag({ content: hlsJs })
  fetched.length = 0
  return { page, fetched }
}

interface PlayResult { levels: string[], switched: number[], currentTime: number, errors: string[] }

/**
 * Plays src with hls.js until `until` seconds (or the end), switching to every level on the way
 * when `switchLevels`. Plain JavaScript run in the page (a string, so the test's TypeScript
 * transform stays out of it).
 */
async function play (page: Page, src: string, until: number, switchLevels: boolean): Promise<PlayResult> {
  const script = `(async ({ src, until, switchLevels }) => {
    const el = document.getElementById('v')
    const hls = new Hls({ startLevel: 0, capLevelToPlayerSize: false, maxBufferLength: 2, maxMaxBufferLength: 2 })
    const errors = []
    const switched = []
    // A fatal error ends the wait at once: a broken route fails the test, it does not hang it.
    let fatal = false
    hls.on(Hls.Events.ERROR, (e, d) => { errors.push(d.type + '/' + d.details + (d.fatal ? ' fatal' : '')); if (d.fatal) fatal = true })
    hls.on(Hls.Events.LEVEL_SWITCHED, (e, d) => { switched.push(d.level) })
    const levels = await new Promise((resolve) => {
      hls.on(Hls.Events.MANIFEST_PARSED, (e, d) => resolve(d.levels))
      hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) resolve([]) })
      hls.loadSource(src)
      hls.attachMedia(el)
    })
    const waitFor = (cond, ms) => new Promise((resolve) => {
      const start = Date.now()
      const tick = () => { if (cond()) resolve(true); else if (fatal || Date.now() - start > ms) resolve(false); else setTimeout(tick, 50) }
      tick()
    })
    let playing = false
    el.play().then(() => { playing = true }, (err) => { errors.push('play: ' + err.message + ' fatal') })
    await waitFor(() => playing, 20000)
    if (switchLevels) {
      // Top rung, bottom rung, then the ones between: every switch lands on a segment boundary,
      // where keyframes line up across rungs.
      await waitFor(() => switched.length > 0, 20000)
      switched.length = 0
      const order = [levels.length - 1, 0]
      for (let level = 1; level < levels.length - 1; level++) order.push(level)
      for (const level of order) {
        hls.nextLevel = level
        await waitFor(() => switched.includes(level), 20000)
      }
    }
    await waitFor(() => el.ended || el.currentTime >= until, 60000)
    const currentTime = el.currentTime
    hls.destroy()
    return { levels: levels.map((l) => l.width + 'x' + l.height), switched, currentTime, errors }
  })(${JSON.stringify({ src, until, switchLevels })})`
  return await page.evaluate(script) as PlayResult
}

const isMedia = (url: string) => /\.(m3u8|ts)(\?|$)/.test(new URL(url).pathname + '?')

t.test('hls.js plays the ladder through /hls and switches rungs mid-play without a stall', async (t) => {
  const { page, fetched } = await playerPage()
  const result = await play(page, `${base}/hls/${id}/master.m3u8`, 19.5, true)

  t.same(result.levels, video.renditions.map((r) => `${r.width}x${r.height}`).reverse(), 'hls.js sees every rung (it lists them lowest first)')
  for (let i = 0; i < video.renditions.length; i++) t.ok(result.switched.includes(i), `switched to rung ${i} while playing (switches: ${result.switched.join(' ')})`)
  t.ok(result.currentTime >= 19.5, `played to the end (${result.currentTime.toFixed(2)} s)`)
  t.same(result.errors.filter((e) => e.includes('fatal') || e.includes('bufferStalledError')), [], `no stall or fatal error (${result.errors.join(', ') || 'none'})`)

  const media = fetched.filter((f) => isMedia(f.url))
  t.same(media.filter((f) => !f.url.startsWith(`${base}/hls/${id}/`) || f.status !== 200), [], 'every playlist and segment came from Lectern\'s /hls routes, answered 200')
  t.ok(media.some((f) => f.url.startsWith(`${base}/hls/${id}/master.m3u8`)), 'the master playlist')
  const playlist = await app.inject({ url: `/hls/${id}/${video.renditions[0]!.name}/index.m3u8` })
  const count = playlist.body.split('\n').filter((l) => l.startsWith('segment-')).length
  const segments = media.filter((f) => f.url.includes('/segment-'))
  const indices = new Set(segments.map((f) => Number(/segment-(\d+)\.ts/.exec(f.url)![1])))
  t.same([...indices].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i), `every one of the ${count} segment times was fetched (${segments.length} segment requests)`)
  for (const rendition of video.renditions) {
    t.ok(segments.some((f) => f.url.includes(`/hls/${id}/${rendition.name}/segment-`)), `segments of ${rendition.name} were served`)
  }
  t.ok(media.every((f) => /[?&]sid=[A-Za-z0-9_-]{22}/.test(f.url) || f.url.endsWith('/master.m3u8')), 'the viewing session issued by the master is carried to every child URI')
  await page.close()
})

t.test('a private video plays for its owner through the playback token that the playlists carry', async (t) => {
  const auth = owner.auth
  const patch = await app.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: auth, payload: { visibility: 'private' } })
  t.equal(patch.statusCode, 200, patch.body)
  // Video documents are reused for up to a second: wait until delivery refuses a bare request.
  const deadline = Date.now() + 5000
  let bare = 0
  while ((bare = (await fetch(`${base}/hls/${id}/master.m3u8`)).status) !== 404 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(bare, 404, 'without a token a private video is not found')

  const playback = await app.inject({ url: `/api/videos/${id}/playback`, headers: auth })
  t.equal(playback.statusCode, 200)
  const { hlsUrl, token } = playback.json() as { hlsUrl: string, token: string }
  const { page, fetched } = await playerPage()
  const result = await play(page, base + hlsUrl, 4, false)
  t.ok(result.currentTime >= 4, `played past 4 s (${result.currentTime.toFixed(2)} s)`)
  t.same(result.errors.filter((e) => e.includes('fatal')), [], `no fatal error (${result.errors.join(', ') || 'none'})`)

  const media = fetched.filter((f) => isMedia(f.url))
  t.ok(media.some((f) => f.url.includes('/segment-')), 'segments were fetched')
  const tokenParam = `token=${encodeURIComponent(token)}`
  t.same(media.filter((f) => !f.url.startsWith(`${base}/hls/${id}/`) || !f.url.includes(tokenParam) || f.status !== 200), [],
    'every playlist and segment request went to /hls with the token (put there by playlist rewriting) and was answered 200')
  const segment = media.find((f) => f.url.includes('/segment-'))
  if (segment !== undefined) t.equal((await fetch(`${base}${new URL(segment.url).pathname}`)).status, 404, 'the same segment without the token is refused')
  await page.close()
})
