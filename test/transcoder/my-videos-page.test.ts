import { existsSync } from 'node:fs'
import t from 'tap'
import { chromium } from 'playwright-core'
import type { Job, User, Video } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { insertVideo, newVideoDocument, VIDEOS } from '../../src/db/video-repository.js'
import { USERS } from '../../src/db/user-repository.js'
import { enqueueTranscode, JOBS } from '../../transcoder/job-queue.js'
import { buildTestApp } from '../helpers/app.js'
import { requireTools } from '../helpers/requirements.js'

// What an uploader reads on "My videos" while a video waits: its place in the queue, or, after a
// failed attempt, why it failed and when it is tried again. In Chromium, under the page's CSP.

t.test('My videos shows the place in the queue and a pending retry with its reason', async (t) => {
  if (!requireTools(t, 'chromium')) return
  const { app } = await buildTestApp(t, { WORKER: 'off' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })

  await page.goto(`${origin}/`)
  await page.click('#account-panel button:has-text("Create an account")')
  await page.fill('#account-panel input[name="name"]', 'Ada Teacher')
  await page.fill('#account-panel input[name="email"]', 'ada@example.org')
  await page.fill('#account-panel input[name="password"]', 'correct horse battery')
  await page.click('#account-panel button[type="submit"]')
  await page.waitForSelector('#account :text("Ada Teacher")')
  const ada = (await app.db.collection<User>(USERS).findOne({ email: 'ada@example.org' }))!._id

  let created = Date.now() - 60_000
  const upload = async (owner: string, title: string): Promise<string> => {
    const id = newId()
    await insertVideo(app.db, newVideoDocument({ id, owner, title, description: '', tags: [], visibility: 'private', originalSize: 1, originalName: null }))
    const job = await enqueueTranscode(app.db, id, owner)
    await app.db.collection<Job>(JOBS).updateOne({ _id: job._id }, { $set: { createdAt: new Date(created++) } })
    return id
  }
  // Another teacher's upload came first; then two of Ada's.
  await upload('someone-else', 'Their lecture')
  const queued = await upload(ada, 'Waiting lecture')
  const retrying = await upload(ada, 'Retrying lecture')
  const retryAt = new Date(Date.now() + 120_000)
  const reason = 'the file is incomplete: its index (moov) is missing; upload the complete file'
  await app.db.collection<Job>(JOBS).updateOne({ videoId: retrying }, { $set: { attempts: 1, runAfter: retryAt, lastError: reason } })
  await app.db.collection<Video>(VIDEOS).updateOne({ _id: retrying }, { $set: { failureReason: reason, retryAt } })

  await page.goto(`${origin}/me`)
  await page.waitForSelector(`#video-rows tr[data-id="${queued}"]`)
  const status = async (id: string) => (await page.textContent(`#video-rows tr[data-id="${id}"] td[data-label="Status"]`))?.replace(/\s+/g, ' ').trim()
  t.equal(await status(queued), 'Waiting to be processed (number 2 in the queue)')
  t.match(await status(retrying), /^Will be retried in about (1 minute( \d+ seconds?)?|2 minutes); the last attempt failed: the file is incomplete: its index \(moov\) is missing; upload the complete file$/)
  t.same(errors, [], 'no script or CSP errors')
})
