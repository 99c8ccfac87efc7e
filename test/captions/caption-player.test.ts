import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { chromium, type Page } from 'playwright-core'
import { buildTestApp } from '../helpers/app.js'
import { registerAccount } from '../plugins/accounts.js'
import { makeLadder, publishVideo } from '../delivery/fixtures.js'
import type { Video } from '../../src/db/documents.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import { HLS_SCRIPT_PATH } from '../../plugins/web.js'
import { listen, uploadCaptions } from './helpers.js'

// hls.js in Chromium reads the subtitle group of the master playlist, loads the segmented WebVTT
// and puts each cue on the video's timeline where the caption file says (X-TIMESTAMP-MAP).

const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'web', 'output')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (!existsSync(CHROMIUM)) {
  if (ci) throw new Error(`no Chromium at ${CHROMIUM}, but CI must run the captions player test`)
  t.plan(0, `no Chromium at ${CHROMIUM}`)
  process.exit(0)
}

const ladder = await makeLadder(t, 6)
const { app } = await buildTestApp(t)
const base = await listen(t, app)
await registerAccount(app, 'admin')
const owner = await registerAccount(app, 'owner')

const CUES: Array<[number, number, string]> = [[0.6, 1.4, 'good morning'], [2.0, 3.5, 'first words'], [4.25, 5.5, 'later words']]
const vtt = 'WEBVTT\n\n' + CUES.map(([s, e, text]) => `00:00:0${s.toFixed(3)} --> 00:00:0${e.toFixed(3)}\n${text}\n`).join('\n')

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required']
})
t.teardown(() => browser.close())

t.test('hls.js lists the subtitle track and shows each cue at its time', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id })
  // The fixture's document says 4 s; this ladder is 6 s long.
  await app.db.collection<Video>(VIDEOS).updateOne({ _id: video._id }, { $set: { duration: 6 } })
  t.equal((await uploadCaptions(base, video._id, vtt, { language: 'en' }, owner.auth)).status, 201)
  const page = await browser.newPage()
  t.teardown(() => page.close())
  await page.goto(`${base}/`)
  await page.evaluate(`new Promise((resolve, reject) => { const s = document.createElement('script'); s.src = ${JSON.stringify(HLS_SCRIPT_PATH)}; s.onload = resolve; s.onerror = reject; document.head.append(s) })`)
  const tracks = await page.evaluate(`new Promise((resolve, reject) => {
    const video = document.createElement('video')
    video.muted = true
    document.body.append(video)
    const hls = new Hls({ renderTextTracksNatively: true })
    window.player = { hls, video }
    hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) reject(new Error(data.details)) })
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_e, data) => resolve(data.subtitleTracks.map((s) => ({ name: s.name, lang: s.lang }))))
    hls.loadSource('/hls/${video._id}/master.m3u8')
    hls.attachMedia(video)
    setTimeout(() => reject(new Error('no subtitle tracks within 20 s')), 20000)
  })`)
  t.same(tracks, [{ name: 'English', lang: 'en' }])

  // Captions on; play; collect the cues hls.js gives the text track and what is showing when.
  const cues = await page.evaluate(`new Promise((resolve, reject) => {
    const { hls, video } = window.player
    hls.subtitleTrack = 0
    hls.subtitleDisplay = true
    window.seen = []
    video.play().catch(reject)
    const timer = setInterval(() => {
      const track = [...video.textTracks].find((tt) => tt.mode === 'showing')
      const active = track?.activeCues ? [...track.activeCues].map((c) => c.text) : []
      for (const text of active) window.seen.push([text, video.currentTime])
      if (video.ended || video.currentTime > 5.9) {
        clearInterval(timer)
        resolve([...(track?.cues ?? [])].map((c) => [c.startTime, c.endTime, c.text]))
      }
    }, 50)
    setTimeout(() => { clearInterval(timer); reject(new Error('playback did not reach the end within 30 s (at ' + video.currentTime + ')')) }, 30000)
  })`) as Array<[number, number, string]>
  const unique = [...new Map(cues.map((c) => [c.join('|'), c])).values()]
  t.equal(unique.length, CUES.length, `the three cues, once each: ${JSON.stringify(unique)}`)
  for (const [start, end, text] of CUES) {
    const cue = unique.find((c) => c[2] === text)
    t.ok(cue !== undefined && Math.abs(cue[0] - start) < 0.5 && Math.abs(cue[1] - end) < 0.5, `"${text}" at ${start}-${end} s on the video's timeline (hls.js has ${cue?.[0]}-${cue?.[1]})`)
  }
  const seen = await page.evaluate('window.seen') as Array<[string, number]>
  for (const [start, end, text] of CUES) {
    const times = seen.filter(([s]) => s === text).map(([, at]) => at)
    t.ok(times.length > 0, `"${text}" was shown`)
    t.ok(times.every((at) => at >= start - 0.5 && at <= end + 0.5), `"${text}" was shown only within 0.5 s of its cue (at ${times.map((x) => x.toFixed(2)).join(', ')})`)
  }
})

/** Polls an expression in the page (waitForFunction would eval it, which the page's CSP forbids). */
async function until (page: Page, expression: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (await page.evaluate(expression) !== true) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('the watch page: captions menu, a cue on screen at its time, the transcript seeks, ?t= and search moments', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id })
  await app.db.collection<Video>(VIDEOS).updateOne({ _id: video._id }, { $set: { duration: 6, title: 'Heat engines', updatedAt: new Date() } })
  t.equal((await uploadCaptions(base, video._id, vtt, { language: 'en' }, owner.auth)).status, 201)
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  t.teardown(() => page.close())
  const problems: string[] = []
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(msg.text()) })
  page.on('pageerror', (err) => problems.push(err.message))

  await page.goto(`${base}/watch/${video._id}?t=2`)
  await page.waitForSelector('#captions-group:not([hidden])', { timeout: 20_000 })
  t.same(await page.$$eval('#captions option', (os) => os.map((o) => [o.value, o.textContent])), [['off', 'Off'], ['en', 'English']])
  await page.selectOption('#captions', 'en')
  t.equal(await page.evaluate('localStorage.getItem("lectern.captions")'), 'en', 'the choice is remembered')
  await page.waitForSelector('#transcript-cues li', { timeout: 10_000 })
  t.same(await page.$$eval('#transcript-cues li span', (ss) => ss.map((s) => s.textContent)), CUES.map((c) => c[2]))

  // ?t=2 starts at 2 s; the cue said from 2.0 to 3.5 s is on screen while it plays.
  const shown = await page.evaluate(`new Promise((resolve, reject) => {
    const video = document.querySelector('#video')
    video.muted = true
    video.play().catch(reject)
    const seen = []
    const timer = setInterval(() => {
      const track = [...video.textTracks].find((tt) => tt.mode === 'showing')
      for (const c of track?.activeCues ?? []) seen.push([c.text, video.currentTime])
      if (video.currentTime > 3.8) { clearInterval(timer); video.pause(); resolve({ seen, current: document.querySelector('#transcript-cues li.current span')?.textContent ?? null }) }
    }, 50)
    setTimeout(() => { clearInterval(timer); reject(new Error('did not play to 3.8 s (at ' + video.currentTime + ')')) }, 30000)
  })`) as { seen: Array<[string, number]>, current: string | null }
  const times = shown.seen.filter(([text]) => text === 'first words').map(([, at]) => at)
  t.ok(times.length > 0 && times.every((at) => at >= 1.5 && at <= 4.0), `"first words" on screen within 0.5 s of 2.0-3.5 s (at ${times.map((x) => x.toFixed(2)).join(', ')})`)
  t.notOk(shown.seen.some(([text]) => text === 'good morning'), 'started at ?t=2, after the first cue')

  // Clicking a transcript line seeks there; the line becomes the current one.
  await page.click('#transcript-cues li:nth-child(3) button')
  await until(page, 'document.querySelector("#video").currentTime >= 4.2')
  const at = await page.evaluate('document.querySelector("#video").currentTime') as number
  t.ok(at >= 4.2 && at < 5.5, `seeked to the cue at 4.25 s (at ${at.toFixed(2)})`)
  await page.waitForSelector('#transcript-cues li.current', { timeout: 5000 })
  t.equal(await page.textContent('#transcript-cues li.current span'), 'later words')
  await page.evaluate('document.querySelector("#video").pause()')
  // For the README (docs/screenshots/watch-captions.png is a small copy): a cue on screen, its line current.
  await mkdir(OUTPUT, { recursive: true })
  await page.screenshot({ path: join(OUTPUT, 'watch-captions-desktop.png'), fullPage: true })

  // Searching within the transcript marks the words.
  await page.fill('#transcript-q', 'later')
  await until(page, 'document.querySelectorAll("#transcript-cues li").length === 1')
  t.equal(await page.textContent('#transcript-cues li mark'), 'later')

  // Search results show the moment, and link to it.
  await page.goto(`${base}/search?q=later`)
  await page.waitForSelector('.moments a', { timeout: 10_000 })
  t.equal(await page.getAttribute('.moments a', 'href'), `/watch/${video._id}?t=4`)
  t.equal(await page.textContent('.moments a mark'), 'later')
  t.same(problems, [], 'no console errors or CSP violations')
})
