// The watch page in Chromium (hls.js, CMCD in headers), run inside the client namespace of a
// bottleneck by test/net/hlsjs-cmcd.test.ts. One Chromium for the whole run; the test drives it
// with signals, through the namespace watchdog (it has no stdin of its own):
//
//   SIGUSR1  close the current page's context, then open the URL written in <control file> in a
//            fresh context (no HTTP cache, no remembered position: a new viewer on the same
//            network), play it muted and report what goes over the network
//   SIGTERM  close everything and exit 0 (also after <max seconds>)
//
// Reports are JSON lines on stdout, each with `t` (Date.now()) and, from a page, `page` (1, 2, ...):
//
//   {"ev":"launched"}                                   Chromium is up
//   {"ev":"open","url"}                                 a page is being opened
//   {"ev":"playback","status","sid","estimateBps"}      GET /api/videos/:id/playback answered
//   {"ev":"master","status","variants","cmsd"}          the master playlist: variant URIs in its order
//   {"ev":"segment","rendition","segment","status","bytes","ms","etp","mb","mtp","bl","sid"}
//                                                       a segment answer finished: etp and mb from
//                                                       its CMSD-Dynamic header, mtp and bl from the
//                                                       request's CMCD-Request, sid from CMCD-Session
//   {"ev":"aborted","rendition","segment","failure"}    a segment request hls.js gave up on
//   {"ev":"playing"}                                    the video's clock has moved
//   {"ev":"state","currentTime","bufferedEnd","paused","level","playerError"}   once a second
//   {"ev":"error","message"}                            uncaught page errors, console errors, player
//                                                       errors, failed requests other than segments
//   {"ev":"done","reason"}                              last line
//
// usage: node hlsjs-player.mjs <control file> <max seconds>
import { readFileSync } from 'node:fs'
import { chromium } from 'playwright-core'

const [controlFile, maxArg] = process.argv.slice(2)
const maxSeconds = Number(maxArg ?? 120)
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SEGMENT = /\/hls\/[0-9a-f]{20}\/([^/?]+)\/(segment-\d+\.ts)(?:\?|$)/
const MASTER = /\/hls\/[0-9a-f]{20}\/master\.m3u8(?:\?|$)/
const PLAYBACK = /\/api\/videos\/[0-9a-f]{20}\/playback(?:\?|$)/

const emit = (o) => process.stdout.write(JSON.stringify({ ...o, t: Date.now() }) + '\n')
const num = (re, s) => { const m = re.exec(s ?? ''); return m === null ? null : Number(m[1]) }

// Signals queue commands; one runs at a time.
const commands = []
let wake = () => {}
const push = (cmd) => { commands.push(cmd); wake() }
const next = async () => {
  while (commands.length === 0) await new Promise((resolve) => { wake = resolve })
  return commands.shift()
}
process.on('SIGUSR1', () => push('open'))
process.on('SIGTERM', () => push('stop:SIGTERM'))
process.on('SIGINT', () => push('stop:SIGINT'))
const deadline = setTimeout(() => push(`stop:${maxSeconds} s elapsed`), maxSeconds * 1000)

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required']
})
emit({ ev: 'launched' })

let pages = 0
let current = null

async function open (url) {
  const n = ++pages
  const say = (o) => emit({ ...o, page: n })
  say({ ev: 'open', url })
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } })
  const page = await context.newPage()
  let closed = false
  page.on('pageerror', (err) => say({ ev: 'error', message: `uncaught: ${err.message}` }))
  page.on('console', (msg) => { if (msg.type() === 'error') say({ ev: 'error', message: `console: ${msg.text()}` }) })
  page.on('requestfailed', (req) => {
    if (closed) return
    const m = SEGMENT.exec(req.url())
    if (m !== null) say({ ev: 'aborted', rendition: m[1], segment: m[2], failure: req.failure()?.errorText ?? null })
    else say({ ev: 'error', message: `request failed: ${req.url()}: ${req.failure()?.errorText}` })
  })
  page.on('requestfinished', (req) => {
    const href = req.url()
    const seg = SEGMENT.exec(href)
    if (seg === null && !MASTER.test(href) && !PLAYBACK.test(href)) return
    ;(async () => {
      const res = await req.response()
      if (res === null) return
      const headers = await res.allHeaders()
      if (seg !== null) {
        const sent = await req.allHeaders()
        const timing = req.timing()
        const sizes = await req.sizes().catch(() => null)
        const dynamic = headers['cmsd-dynamic'] ?? ''
        say({
          ev: 'segment',
          rendition: seg[1],
          segment: seg[2],
          status: res.status(),
          bytes: sizes?.responseBodySize ?? null,
          ms: timing.responseEnd >= 0 ? Math.round(timing.responseEnd - Math.max(0, timing.requestStart)) : null,
          etp: num(/(?:^|,)\s*etp=(\d+)/, dynamic),
          mb: num(/(?:^|,)\s*mb=(\d+)/, dynamic),
          mtp: num(/(?:^|,)\s*mtp=(\d+)/, sent['cmcd-request']),
          bl: num(/(?:^|,)\s*bl=(\d+)/, sent['cmcd-request']),
          sid: /sid="([^"]+)"/.exec(sent['cmcd-session'] ?? '')?.[1] ?? null
        })
      } else if (MASTER.test(href)) {
        const body = await res.text()
        const variants = body.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split('?')[0])
        say({ ev: 'master', status: res.status(), variants, cmsd: headers['cmsd-dynamic'] ?? null })
      } else {
        const body = await res.json().catch(() => null)
        say({ ev: 'playback', status: res.status(), sid: body?.sid ?? null, estimateBps: body?.estimateBps ?? null })
      }
    })().catch((err) => { if (!closed) say({ ev: 'error', message: `reading ${href}: ${err.message}` }) })
  })
  const poll = setInterval(() => {
    page.evaluate(`(() => {
      const v = document.getElementById('video'), p = document.getElementById('player')
      const b = v.buffered
      return { currentTime: Math.round(v.currentTime * 10) / 10, bufferedEnd: b.length > 0 ? Math.round(b.end(b.length - 1) * 10) / 10 : 0,
        paused: v.paused, level: p.dataset.level || null, playerError: p.dataset.error || (v.error && v.error.message) || null }
    })()`).then((s) => { if (!closed) say({ ev: 'state', ...s }) }, () => {})
  }, 1000)
  const close = async () => {
    closed = true
    clearInterval(poll)
    await context.close().catch(() => {})
  }
  start(page, url, n, say, () => closed).catch(() => {})
  return { close }
}

async function start (page, url, n, say, isClosed) {
  try {
    await page.goto(url)
    // hls.js is attached once the media knows its duration; then the page's own Play button (a real
    // click, a user gesture as a viewer gives), muted. Function predicates: the page's CSP refuses eval.
    await page.waitForFunction(() => globalThis.document.getElementById('video').readyState >= 1, null, { timeout: 30_000, polling: 100 })
    await page.evaluate(`document.getElementById('video').muted = true`)
    await page.click('#play')
    await page.waitForFunction(() => globalThis.document.getElementById('video').currentTime > 0.2, null, { timeout: 30_000, polling: 100 })
    say({ ev: 'playing' })
  } catch (err) {
    if (!isClosed()) say({ ev: 'error', message: `page ${n}: ${err.message}` })
  }
}

let reason = 'unknown'
try {
  for (;;) {
    const cmd = await next()
    if (cmd.startsWith('stop:')) { reason = cmd.slice(5); break }
    if (current !== null) await current.close()
    current = null
    // open() returns once the page exists; loading and playing go on while the next signal is heard.
    const { url } = JSON.parse(readFileSync(controlFile, 'utf8'))
    current = await open(url)
  }
} catch (err) {
  emit({ ev: 'error', message: `player script: ${err.stack ?? err.message}` })
  reason = 'failed'
} finally {
  clearTimeout(deadline)
  if (current !== null) await current.close()
  await browser.close().catch(() => {})
}
emit({ ev: 'done', reason })
process.exit(0)
