import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { chromium, type Page, type BrowserContext } from 'playwright-core'
import { buildTestApp } from '../helpers/app.js'
import { makeClip } from '../helpers/media.js'

// The web UI end to end, in Debian's Chromium against a real Lectern on a socket: what a teacher
// and a student do, under the pages' real Content-Security-Policy.

const require = createRequire(import.meta.url)
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (!existsSync(CHROMIUM) && ci) throw new Error(`no Chromium at ${CHROMIUM}, but CI must run the web UI test (.ci/run installs it)`)
/** Screenshots land here (gitignored); docs/screenshots holds small copies made from them. */
export const OUTPUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'output')
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
const DESKTOP = { width: 1280, height: 800 }
const PHONE = { width: 360, height: 740 }
const PASSWORD = 'correct horse battery'

/** Errors a page shows in its console (CSP violations among them), script errors, and requests to other origins. */
interface Watched { console: string[], foreign: string[] }

function watch (page: Page, origin: string, watched: Watched): void {
  page.on('console', (msg) => { if (msg.type() === 'error') watched.console.push(`${page.url()}: ${msg.text()}`) })
  page.on('pageerror', (err) => watched.console.push(`${page.url()}: uncaught ${err.message}`))
  page.on('request', (req) => {
    const url = new URL(req.url())
    if (url.protocol !== 'data:' && url.protocol !== 'blob:' && url.origin !== origin) watched.foreign.push(req.url())
  })
}

/** axe-core in the page (injected over the DevTools protocol, so the page's CSP stays as it is). */
async function axe (t: Test, page: Page, name: string): Promise<void> {
  if (await page.evaluate('typeof window.axe') === 'undefined') await page.evaluate(AXE)
  const violations = await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: String(v.nodes[0] && v.nodes[0].target) })))`) as Array<{ id: string, impact: string, nodes: number, target: string }>
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  t.same(bad, [], `${name}: no serious or critical axe violations (${violations.length} minor: ${violations.map((v) => v.id).join(', ') || 'none'})`)
}

/** Desktop and phone screenshots; at phone width nothing may stick out sideways. */
async function screenshots (t: Test, page: Page, name: string): Promise<void> {
  await page.setViewportSize(DESKTOP)
  await page.screenshot({ path: join(OUTPUT_DIR, `${name}-desktop.png`) })
  await page.setViewportSize(PHONE)
  const overflow = await page.evaluate('document.documentElement.scrollWidth') as number
  t.ok(overflow <= PHONE.width, `${name}: fits a 360 px phone (page width ${overflow} px)`)
  await page.screenshot({ path: join(OUTPUT_DIR, `${name}-phone.png`), fullPage: true })
  await page.setViewportSize(DESKTOP)
}

async function register (page: Page, form: string, name: string, email: string): Promise<void> {
  await page.click(`${form} button:has-text("Create an account")`)
  await page.fill(`${form} input[name="name"]`, name)
  await page.fill(`${form} input[name="email"]`, email)
  await page.fill(`${form} input[name="password"]`, PASSWORD)
  await page.click(`${form} button[type="submit"]`)
  await page.waitForSelector(`#account :text("${name}")`)
}

const videoState = (page: Page) => page.evaluate(`(() => { const v = document.getElementById('video'); return { time: v.currentTime, paused: v.paused, rate: v.playbackRate, error: v.error && v.error.message, playerError: document.getElementById('player').dataset.error || null, level: document.getElementById('player').dataset.level || null } })()`) as Promise<{ time: number, paused: boolean, rate: number, error: string | null, playerError: string | null, level: string | null }>

async function waitForTime (page: Page, seconds: number, timeout = 30_000): Promise<void> {
  // Function predicates, not strings: a string would be eval'd in the page, which its CSP forbids.
  // (globalThis as any).document: this project compiles without the DOM types.
  await page.waitForFunction((s) => (globalThis as any).document.getElementById('video').currentTime > s, seconds, { timeout, polling: 100 })
}

t.test('the web UI: register, upload, watch, search, and privacy, in Chromium', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  const started = Date.now()
  await mkdir(OUTPUT_DIR, { recursive: true })
  const { app } = await buildTestApp(t, { WORKER: 'inline', HLS_SEGMENT_SECONDS: '2' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const clip = await makeClip({ seconds: 8, width: 640, height: 360, name: 'photosynthesis.mp4' }, t)
  const clipSize = statSync(clip).size
  // The teacher's captions, as SRT (CRLF, as Windows tools write it), sent with the upload.
  const CUES: Array<[number, number, string]> = [[1.0, 2.6, 'Light reactions first'], [4.5, 6.0, 'then the Calvin cycle']]
  const srtTime = (s: number): string => `00:00:0${Math.floor(s)},${String(Math.round((s % 1) * 1000)).padStart(3, '0')}`
  const srt = join(dirname(clip), 'photosynthesis.srt')
  await writeFile(srt, CUES.map(([s, e, text], i) => `${i + 1}\r\n${srtTime(s)} --> ${srtTime(e)}\r\n${text}\r\n`).join('\r\n'))
  const title = `Photosynthesis basics ${Date.now().toString(36)}`

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const watched: Watched = { console: [], foreign: [] }
  const newPage = async (): Promise<{ context: BrowserContext, page: Page }> => {
    const context = await browser.newContext({ viewport: DESKTOP })
    const page = await context.newPage()
    watch(page, origin, watched)
    return { context, page }
  }

  // --- the teacher ---
  const { page } = await newPage()
  await page.goto(`${origin}/`)
  await page.waitForSelector('#latest-status:has-text("No public videos yet")')
  await axe(t, page, 'home, signed out')
  await screenshots(t, page, 'home-empty')
  await register(page, '#account-panel', 'Ada Teacher', 'ada@example.org')
  await page.waitForSelector('#account-panel :text("Welcome, Ada Teacher")')

  await page.click('nav a:has-text("Upload")')
  await page.waitForSelector('#upload-form:not([hidden])')
  await axe(t, page, 'upload form')
  await screenshots(t, page, 'upload')
  await page.setInputFiles('#file', clip)
  await page.fill('#title', title)
  await page.fill('#description', 'How plants turn light into sugar: the light reactions and the Calvin cycle.')
  await page.fill('#tags', 'biology, plants')
  // Captions with the upload: a file that is not captions is named before anything is sent.
  t.match(await page.inputValue('#caption-language'), /^[a-z]{2,3}(-[A-Za-z0-9]+)*$/, 'the captions\' language has a default tag')
  await page.setInputFiles('#caption-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') })
  await page.click('#upload-button')
  await page.waitForSelector('#form-error:has-text("Captions:")')
  t.equal(await page.getAttribute('#caption-file', 'aria-invalid'), 'true', 'the caption file is marked invalid')
  t.equal(await page.evaluate('document.activeElement.id'), 'caption-file', 'and focused')
  await page.setInputFiles('#caption-file', srt)
  await page.fill('#caption-language', 'en')
  // The bytes go over loopback in an instant; a throttled uplink (about 3 s for the clip) lets the bar be seen moving.
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: Math.round(clipSize / 3) })
  const sendValues = page.evaluate(`new Promise((resolve) => {
    const bar = document.getElementById('send-bar'), text = document.getElementById('send-text'), seen = [], texts = []
    const tick = () => { seen.push(bar.value); if (texts[texts.length - 1] !== text.textContent) texts.push(text.textContent); if (bar.value >= 100) resolve({ seen, texts }); else setTimeout(tick, 50) }
    tick()
  })`) as Promise<{ seen: number[], texts: string[] }>
  await page.click('#upload-button')
  const sent = await sendValues
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
  const between = sent.seen.filter((v) => v > 0 && v < 100)
  t.ok(new Set(between).size >= 2, `the upload bar moved through ${[...new Set(between)].join(', ')}%`)
  t.ok(sent.texts.some((s) => /\d+% · .* of .* · .*\/s · about .* left/.test(s)), `it showed percentage, speed and time left (${sent.texts[Math.floor(sent.texts.length / 2)]})`)
  await page.waitForSelector('#transcode:not([hidden])')
  await axe(t, page, 'upload in progress')
  await page.screenshot({ path: join(OUTPUT_DIR, 'upload-progress-desktop.png') })
  // The watch link shows as soon as the first minutes can be played; the page says when all is done.
  await page.waitForSelector('#watch-link:not([hidden])', { timeout: 120_000 })
  await page.waitForSelector('#upload-status:has-text("is ready to watch")', { timeout: 120_000 })
  t.match(await page.textContent('#upload-status'), /is ready to watch/, 'the page says the video is ready')
  await page.waitForSelector('#caption-status:has-text("Captions added")')
  t.equal(await page.textContent('#caption-status'), 'Captions added: English (en), 2 lines.', 'the captions went with it')
  const playbackAnswer = page.waitForResponse(/\/api\/videos\/[0-9a-f]{20}\/playback$/)
  const segmentCmcd: Array<Promise<string | undefined>> = []
  page.on('request', (req) => { if (/\/segment-\d+\.ts/.test(req.url())) segmentCmcd.push(req.allHeaders().then((h) => h['cmcd-session'])) })
  await page.click('#watch-link')
  await page.waitForURL(/\/watch\/[0-9a-f]{20}$/)
  const id = page.url().split('/').pop()!
  const playback = await (await playbackAnswer).json() as { sid?: string, estimateBps?: number | null }

  // The captions sent with the upload: in the menu, in the transcript, and on screen at their time.
  await page.waitForSelector('#captions-group:not([hidden])', { timeout: 20_000 })
  t.same(await page.$$eval('#captions option', (os) => os.map((o) => [(o as unknown as { value: string }).value, o.textContent])), [['off', 'Off'], ['en', 'English']], 'the captions menu lists the track')
  await page.selectOption('#captions', 'en')
  await page.waitForSelector('#transcript-cues li')
  t.same(await page.$$eval('#transcript-cues li span', (ss) => ss.map((s) => s.textContent)), CUES.map((c) => c[2]), 'the transcript has the file\'s lines')
  const captionsSeen = page.evaluate(`new Promise((resolve) => {
    const video = document.getElementById('video'), seen = []
    const timer = setInterval(() => {
      const track = [...video.textTracks].find((tt) => tt.mode === 'showing')
      for (const c of track?.activeCues ?? []) seen.push([c.text, video.currentTime])
      if (video.currentTime > 3) { clearInterval(timer); resolve(seen) }
    }, 50)
  })`) as Promise<Array<[string, number]>>

  // --- watching ---
  await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#quality option').length > 2, undefined, { timeout: 20_000 })
  const qualities = await page.$$eval('#quality option', (options) => options.map((o) => ({ value: (o as unknown as { value: string }).value, label: o.textContent ?? '' })))
  t.ok(qualities.length >= 3, `the quality menu has Auto and each rendition (${qualities.map((q) => q.label).join(' | ')})`)
  t.equal(await page.getAttribute('#download', 'href'), `/stream/${id}`, 'the download link is the progressive MP4')
  await page.click('#play')
  await waitForTime(page, 3)
  const [cueStart, cueEnd, cueText] = CUES[0]!
  const shownAt = (await captionsSeen).filter(([text]) => text === cueText).map(([, at]) => at)
  t.ok(shownAt.length > 0 && shownAt.every((at) => at >= cueStart - 0.5 && at <= cueEnd + 0.5), `"${cueText}" was on screen within 0.5 s of ${cueStart}-${cueEnd} s (at ${shownAt.map((x) => x.toFixed(2)).join(', ')})`)
  let state = await videoState(page)
  t.ok(state.time > 3 && state.error === null && state.playerError === null, `played past 3 s with no player error (${state.time.toFixed(1)} s)`)
  t.equal(await page.textContent('#play'), 'Pause', 'while playing, the button offers to pause')
  await page.click('#play')
  await page.waitForFunction(() => (globalThis as any).document.getElementById('video').paused === true)
  // The button follows the element's 'pause' event, which may come a moment after paused is set.
  await page.waitForFunction(() => (globalThis as any).document.getElementById('play').textContent === 'Play', undefined, { timeout: 5000 }).catch(() => {})
  t.equal(await page.textContent('#play'), 'Play', 'paused, it offers to play')

  // Quality: pick the rendition that is not playing now; the player reports it once it shows.
  const current = state.level
  const other = qualities.slice(1).find((q) => !q.label.startsWith(`${current ?? ''} `))!
  await page.selectOption('#quality', other.value)
  await page.waitForFunction((level) => (globalThis as any).document.getElementById('player').dataset.level === level, other.label.split(' ')[0], { timeout: 20_000 })
  t.pass(`switched quality from ${current} to ${other.label}`)
  await page.selectOption('#speed', '1.5')
  state = await videoState(page)
  t.equal(state.rate, 1.5, 'the speed menu sets 1.5x')
  // Keyboard: > is faster, space plays, left arrow goes back 5 s.
  await page.focus('#video')
  await page.keyboard.press('>')
  t.equal((await videoState(page)).rate, 1.75, '> steps the speed up')
  const before = (await videoState(page)).time
  await page.keyboard.press('Space')
  await waitForTime(page, before + 0.5)
  await page.keyboard.press('Space')
  state = await videoState(page)
  t.ok(state.paused && state.error === null && state.playerError === null, `space played and paused again at ${state.time.toFixed(1)} s, no error`)
  if (typeof playback.sid === 'string') {
    const sessions = await Promise.all(segmentCmcd)
    t.ok(sessions.length > 0 && sessions.every((v) => v?.includes(`sid="${playback.sid}"`)), `every segment request told the server its viewing session by CMCD (${sessions.length} segments)`)
  }
  await axe(t, page, 'watch')
  await screenshots(t, page, 'watch')

  // Reload: the position and speed come back.
  const position = state.time
  await page.reload()
  await page.waitForSelector('#resume:not([hidden])')
  await waitForTime(page, position - 0.5, 20_000)
  state = await videoState(page)
  t.ok(Math.abs(state.time - position) < 1, `resumed at ${state.time.toFixed(1)} s (left at ${position.toFixed(1)} s)`)
  t.equal(state.rate, 1.75, 'the speed is remembered')
  t.match(await page.textContent('#resume-text'), /Resumed where you left off/)

  // --- search ---
  await page.goto(`${origin}/search`)
  await page.fill('#q', title.slice(0, 7)) // "Photosy"
  await page.waitForSelector('#search-status:has-text("for “Photosy”")')
  t.match(await page.textContent('#search-status'), /^1 video for “Photosy”$/, 'the result count is announced')
  t.equal(await page.textContent('#results .card h2'), title, 'the clip is found by a prefix of its title')
  t.match(page.url(), /\/search\?q=Photosy$/, 'the address keeps the query')
  await page.waitForSelector('#chips button:has-text("biology")')
  await axe(t, page, 'search results')
  await screenshots(t, page, 'search')
  await page.click(`#results .card a:has-text("${title}")`)
  await page.waitForURL(`${origin}/watch/${id}`)
  t.pass('a search result opens its watch page')

  await page.goto(`${origin}/me`)
  await page.waitForSelector(`#video-rows th a:has-text("${title}")`)
  t.match(await page.textContent(`#video-rows tr[data-id="${id}"]`), /Ready/, 'my videos lists it as ready')
  await axe(t, page, 'my videos')
  await screenshots(t, page, 'me')
  await page.goto(`${origin}/`)
  await page.waitForSelector(`#latest .card h2:has-text("${title}")`)
  await page.waitForSelector(`#latest .card .views:has-text("view")`)
  await axe(t, page, 'home with videos')
  await screenshots(t, page, 'home')

  // The owner makes it private from the watch page.
  await page.goto(`${origin}/watch/${id}`)
  await page.waitForSelector('#owner-tools:not([hidden])')
  // The owner adds another language there; a malformed file is refused with its line, out loud.
  await page.setInputFiles('#caption-file', { name: 'bad.vtt', mimeType: 'text/vtt', buffer: Buffer.from('WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nlumière\n') })
  await page.fill('#caption-language', 'fr')
  await page.click('#captions-form button[type="submit"]')
  await page.waitForSelector('#caption-error:has-text("Not saved")')
  t.match(await page.textContent('#caption-error'), /line 3/, 'the error names the line at fault')
  t.equal(await page.getAttribute('#caption-error', 'role'), 'alert', 'and is announced')
  await page.setInputFiles('#caption-file', { name: 'fr.vtt', mimeType: 'text/vtt', buffer: Buffer.from('WEBVTT\n\n00:00:01.000 --> 00:00:02.600\nLa photosynthèse\n') })
  await page.click('#captions-form button[type="submit"]')
  await page.waitForSelector('#caption-status:has-text("saved")')
  await page.waitForSelector('#caption-list li:has-text("(fr, 1 cue)")')
  t.same(await page.$$eval('#caption-list li', (ls) => ls.map((l) => l.textContent!.split(' (')[0])), ['English', 'Français'], 'the owner\'s list has both languages')
  await axe(t, page, 'watch, owner\'s captions')
  await page.selectOption('#edit-visibility', 'private')
  await page.click('#edit-form button[type="submit"]')
  await page.waitForSelector('#edit-status:has-text("Saved.")')

  // --- a student ---
  const student = (await newPage()).page
  await student.goto(`${origin}/search`)
  await student.click('#account button:has-text("Sign in")')
  await register(student, 'dialog', 'Sam Student', 'sam@example.org')
  await student.fill('#q', title.slice(0, 7))
  await student.waitForSelector('#search-status:has-text("No videos match")')
  t.equal(await student.$$eval('#results .card', (cards) => cards.length), 0, 'the private video is not listed in search')
  await axe(t, student, 'search, no results')
  await screenshots(t, student, 'search-empty')
  await student.goto(`${origin}/`)
  await student.waitForSelector('#latest-status:has-text("No public videos yet")')
  await student.goto(`${origin}/watch/${id}`)
  await student.waitForSelector('#watch-message:not([hidden])')
  t.equal(await student.textContent('#message-title'), 'Video not available', 'its watch page says so plainly')
  t.match(await student.textContent('#message-text'), /private/)
  t.equal(await student.isVisible('#video'), false, 'and shows no player')
  await axe(t, student, 'watch, not available')
  await screenshots(t, student, 'watch-private')
  await student.goto(`${origin}/me`)
  await student.waitForSelector('#me-status:has-text("You have not uploaded any videos yet")')

  t.same(watched.foreign, [], 'no request went to another origin')
  // The one expected error: the student's GET of the private video answers 404.
  const expected = `${origin}/watch/${id}: Failed to load resource: the server responded with a status of 404 (Not Found)`
  t.ok(watched.console.includes(expected), 'the private video\'s details were refused to the student')
  // And the owner's malformed caption file, answered 400.
  const refusedCaptions = `${origin}/watch/${id}: Failed to load resource: the server responded with a status of 400 (Bad Request)`
  t.equal(watched.console.filter((m) => m === refusedCaptions).length, 1, 'the malformed caption file was refused once')
  t.same(watched.console.filter((m) => m !== expected && m !== refusedCaptions), [], 'no other console error (a CSP violation would be one)')
  t.comment(`web UI test ran in ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
