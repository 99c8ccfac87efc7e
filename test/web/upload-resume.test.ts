import { existsSync } from 'node:fs'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { join } from 'node:path'
import t from 'tap'
import { chromium } from 'playwright-core'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { mediaDir } from '../helpers/media.js'
import { freePort } from '../helpers/free-port.js'
import { fakeVideo } from '../plugins/multipart-body.js'
import { until } from '../uploads/tus-client.js'

// The upload page over a connection that goes away: Chromium talks to Lectern through a TCP
// relay that paces the upload (so there is time to cut it) and can be switched off, as when the
// server stops or the Wi-Fi drops. The upload must pause, go on by itself, and end with the
// original byte-identical to the file; a reload mid-upload must go on from where it stopped.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (!existsSync(CHROMIUM) && ci) throw new Error(`no Chromium at ${CHROMIUM}, but CI must run the web UI tests (.ci/run installs it)`)

/** A relay to the app on a fixed port, pacing what the browser sends; down() drops every connection and refuses new ones. */
async function relay (target: number, bytesPerSecond: number): Promise<{ port: number, down: () => Promise<void>, up: () => Promise<void>, close: () => Promise<void> }> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1')
      sockets.add(client)
      sockets.add(upstream)
      for (const s of [client, upstream]) {
        s.on('error', () => {})
        s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy() })
      }
      client.on('data', (chunk: Buffer) => {
        // Paced: the browser's bytes reach the server at about bytesPerSecond.
        client.pause()
        upstream.write(chunk)
        setTimeout(() => client.resume(), (chunk.length / bytesPerSecond) * 1000)
      })
      upstream.pipe(client)
    })
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
  }
  const down = async () => {
    const s = server
    server = undefined
    if (s === undefined) return
    const closed = once(s, 'close')
    s.close()
    for (const socket of sockets) socket.destroy()
    await closed
  }
  await listen()
  return { port, down, up: listen, close: down }
}

async function original (app: FastifyInstance, id: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of await app.storage.get(`originals/${id}`)) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

t.test('the upload page survives a cut connection and a reload, and the bytes arrive intact', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  const { app, config } = await buildTestApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const net = await relay((app.server.address() as { port: number }).port, 2 * 1024 * 1024)
  t.teardown(() => net.close())
  const origin = `http://127.0.0.1:${net.port}`
  const dir = await mediaDir(t)
  const first = join(dir, 'first-lecture.mp4')
  const second = join(dir, 'second-lecture.mp4')
  await writeFile(first, fakeVideo(8 * 1024 * 1024))
  await writeFile(second, fakeVideo(8 * 1024 * 1024 + 4321))

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  // Leaving mid-upload asks first (beforeunload); the test means it.
  page.on('dialog', (dialog) => { void dialog.accept() })
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION|net::/.test(m.text())) errors.push(m.text()) })
  await page.goto(`${origin}/upload`)
  await page.click('#signed-out button:has-text("Create an account")')
  await page.fill('#signed-out input[name="name"]', 'Ada')
  await page.fill('#signed-out input[name="email"]', 'ada@example.org')
  await page.fill('#signed-out input[name="password"]', 'correct horse battery')
  await page.click('#signed-out button[type="submit"]')
  await page.waitForSelector('#upload-form:not([hidden])')

  // -- 1. The connection goes away mid-upload for three seconds (the server unreachable).
  await page.setInputFiles('#file', first)
  await page.click('#upload-button')
  // The browser's own progress runs ahead of the server (socket buffers); cut once the server holds a quarter.
  const firstSize = (await stat(first)).size
  const uploadId = async () => String((await app.db.collection('uploads').find({}))[0]?._id ?? '')
  const received = async () => await stat(join(config.dataDir, 'uploads', await uploadId())).then((s) => s.size, () => 0)
  for (const deadline = Date.now() + 30_000; await received() < firstSize / 4;) {
    if (Date.now() > deadline) throw new Error('the server never got a quarter of the file')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await net.down()
  await page.waitForSelector('#progress-panel[data-state="paused"]')
  const atCut = await received()
  t.match(await page.textContent('#upload-status'), /^Paused at \d+%: the connection to Lectern was lost\. It goes on by itself/, 'the page says it is paused, and that it will go on')
  await new Promise((resolve) => setTimeout(resolve, 3000))
  await net.up()
  await page.waitForSelector('#progress-panel[data-state="sending"]', { timeout: 30_000 })
  const resumedAt = Number(/resumed at (\d+)%/.exec(await page.textContent('#upload-status') ?? '')?.[1])
  t.equal(resumedAt, Math.floor((atCut / firstSize) * 100), `it went on from the server's offset (${atCut} bytes, ${resumedAt}%), not from zero`)
  await page.waitForSelector('#progress-panel[data-state="sent"]', { timeout: 60_000 })
  const [firstVideo] = await app.db.collection('videos').find({})
  t.ok(firstVideo, 'the upload became a video')
  t.ok((await original(app, String(firstVideo!._id))).equals(await readFile(first)), 'its original is byte-identical to the file')

  // -- 2. A reload mid-upload: the page lists the unfinished upload; choosing the file goes on.
  await page.goto(`${origin}/upload`)
  await page.waitForSelector('#upload-form:not([hidden])')
  await page.setInputFiles('#file', second)
  await page.fill('#title', 'Second lecture, reloaded')
  await page.fill('#tags', 'optics')
  await page.click('#upload-button')
  // globalThis: the tests typecheck without DOM types (and the page's CSP allows no string eval).
  await page.waitForFunction(() => Number((globalThis as any).document.querySelector('#send-bar').value) >= 30)
  await page.reload()
  await page.waitForSelector('#unfinished:not([hidden])')
  t.match(await page.textContent('#unfinished-list'), /“Second lecture, reloaded” \(second-lecture\.mp4, 8\.0 MB\)\. Choose second-lecture\.mp4 again to go on/, 'after the reload the page remembers the unfinished upload')
  await page.setInputFiles('#file', second)
  await page.waitForSelector('#file-info:has-text("Part of this file was sent before")')
  t.equal(await page.inputValue('#title'), 'Second lecture, reloaded', 'its title comes back')
  t.equal(await page.inputValue('#tags'), 'optics')
  await page.click('#upload-button')
  t.match(await page.textContent('#upload-status'), /Part of this file was sent before: going on from where it stopped/, 'it says it goes on')
  await page.waitForSelector('#progress-panel[data-state="sent"]', { timeout: 60_000 })
  const videos = await app.db.collection('videos').find({})
  t.equal(videos.length, 2, 'two videos, one per file')
  const secondVideo = videos.find((v) => v._id !== firstVideo!._id)!
  t.equal((secondVideo as { title?: string }).title, 'Second lecture, reloaded')
  t.ok((await original(app, String(secondVideo._id))).equals(await readFile(second)), 'its original is byte-identical to the file')
  const records = await app.db.collection('uploads').find({})
  t.same(records.map((r) => (r as { state?: string }).state).sort(), ['complete', 'complete'], 'two uploads in all: the reload resumed, it did not start another')
  t.equal(await page.evaluate('Object.keys(localStorage).filter((k) => k.startsWith("tus::")).length'), 0, 'the browser remembers no unfinished upload')

  // -- 3. Cancel mid-upload: the upload is terminated on the server, nothing of it is left.
  const third = join(dir, 'third-lecture.mp4')
  await writeFile(third, fakeVideo(8 * 1024 * 1024))
  await page.goto(`${origin}/upload`)
  await page.waitForSelector('#upload-form:not([hidden])')
  await page.setInputFiles('#file', third)
  await page.click('#upload-button')
  await page.waitForFunction(() => Number((globalThis as any).document.querySelector('#send-bar').value) >= 10)
  t.ok(await until(async () => (await app.db.collection('uploads').countDocuments({ state: 'receiving' })) === 1, 10_000), 'the third upload is under way')
  await page.click('#cancel-button')
  await page.waitForSelector('#again-button:not([hidden])')
  t.equal(await page.textContent('#upload-error'), 'Upload cancelled. Nothing was saved.', 'cancel says so')
  t.equal(await app.db.collection('uploads').countDocuments({ state: 'receiving' }), 0, 'the server forgot the upload')
  t.equal((await readdir(join(config.dataDir, 'uploads'))).length, 4, 'and removed its bytes (only the two finished uploads\' files are there)')
  t.equal((await app.db.collection('videos').find({})).length, 2, 'no third video')
  t.same(errors, [], 'no script errors')
})
