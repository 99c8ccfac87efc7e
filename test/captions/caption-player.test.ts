import { existsSync } from 'node:fs'
import t from 'tap'
import { chromium } from 'playwright-core'
import { buildTestApp } from '../helpers/app.js'
import { registerAccount } from '../plugins/accounts.js'
import { makeLadder, publishVideo } from '../delivery/fixtures.js'
import type { Video } from '../../src/db/documents.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import { HLS_SCRIPT_PATH } from '../../plugins/web.js'
import { listen, uploadCaptions } from './helpers.js'

// hls.js in Chromium reads the subtitle group of the master playlist, loads the segmented WebVTT
// and puts each cue on the video's timeline where the caption file says (X-TIMESTAMP-MAP).

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
