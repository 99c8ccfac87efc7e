import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import t from 'tap'
import { chromium } from 'playwright-core'
import type { Video } from '../../src/db/documents.js'
import { videoKeys } from '../../src/db/documents.js'
import { isObjectNotFound } from '../../src/errors.js'
import { makeClip } from '../helpers/media.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { transcoderFixture, uploadVideo, getVideo } from './fixtures.js'

const require = createRequire(import.meta.url)
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (!existsSync(CHROMIUM) && ci) throw new Error(`no Chromium at ${CHROMIUM}, but CI must run the playback test (.ci/run installs it)`)

t.test('hls.js in Chromium plays the ladder and switches rungs mid-play without a stall', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  const fx = await transcoderFixture(t)
  const { id } = await uploadVideo(fx, await makeClip({ seconds: 20, width: 960, height: 540 }, t))
  await transcodeVideo({ db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, signal: new AbortController().signal, tmpRoot: fx.tmpRoot }, id)
  const video: Video = await getVideo(fx.db, id)
  const prefix = videoKeys.versionPrefix(id, video.version!)
  const hlsJs = await readFile(require.resolve('hls.js/dist/hls.min.js'))

  // Straight from storage: this tests the published objects, not the delivery routes.
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    if (path === '/') {
      res.setHeader('content-type', 'text/html')
      res.end('<!doctype html><video id="v" muted playsinline></video><script src="/hls.js"></script>')
      return
    }
    if (path === '/hls.js') { res.setHeader('content-type', 'text/javascript'); res.end(hlsJs); return }
    const key = prefix + path.slice('/media/'.length)
    fx.storage.get(key).then((stream) => {
      res.setHeader('content-type', key.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : key.endsWith('.ts') ? 'video/mp2t' : 'application/octet-stream')
      stream.pipe(res)
    }, (err: unknown) => { res.statusCode = isObjectNotFound(err) ? 404 : 500; res.end() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const port = (server.address() as { port: number }).port

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${port}/`)
  // Plain JavaScript run in the page (a string, so the test's TypeScript transform stays out of it).
  const script = `(async (src) => {
    const el = document.getElementById('v')
    const hls = new Hls({ startLevel: 0, capLevelToPlayerSize: false, maxBufferLength: 2, maxMaxBufferLength: 2 })
    const errors = []
    const switched = []
    hls.on(Hls.Events.ERROR, (e, d) => { errors.push(d.type + '/' + d.details + (d.fatal ? ' fatal' : '')) })
    hls.on(Hls.Events.LEVEL_SWITCHED, (e, d) => { switched.push(d.level) })
    const levels = await new Promise((resolve) => {
      hls.on(Hls.Events.MANIFEST_PARSED, (e, d) => resolve(d.levels))
      hls.loadSource(src)
      hls.attachMedia(el)
    })
    await el.play()
    const waitFor = (cond, ms) => new Promise((resolve) => {
      const start = Date.now()
      const tick = () => { if (cond()) resolve(true); else if (Date.now() - start > ms) resolve(false); else setTimeout(tick, 50) }
      tick()
    })
    // Switch while playing, top rung, bottom rung, then the ones between: every switch lands on
    // a segment boundary, where keyframes line up across rungs.
    await waitFor(() => switched.length > 0, 20000)
    switched.length = 0
    const order = [levels.length - 1, 0]
    for (let level = 1; level < levels.length - 1; level++) order.push(level)
    for (const level of order) {
      hls.nextLevel = level
      await waitFor(() => switched.includes(level), 20000)
    }
    await waitFor(() => el.ended || el.currentTime >= 19.5, 60000)
    return { levels: levels.map((l) => l.width + 'x' + l.height), switched, currentTime: el.currentTime, errors }
  })('http://127.0.0.1:${port}/media/master.m3u8')`
  const result = await page.evaluate(script) as { levels: string[], switched: number[], currentTime: number, errors: string[] }

  t.same(result.levels, video.renditions.map((r) => `${r.width}x${r.height}`).reverse(), 'hls.js sees every rung (it lists them lowest first)')
  for (let i = 0; i < video.renditions.length; i++) t.ok(result.switched.includes(i), `switched to rung ${i} while playing (switches: ${result.switched.join(' ')})`)
  t.ok(result.currentTime >= 19.5, `played to the end (${result.currentTime.toFixed(2)} s)`)
  t.same(result.errors.filter((e) => e.includes('fatal') || e.includes('bufferStalledError')), [], `no stall or fatal error (${result.errors.join(', ') || 'none'})`)
})
