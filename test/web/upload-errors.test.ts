import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { chromium } from 'playwright-core'
import { buildTestApp } from '../helpers/app.js'
import { makeClip, mediaDir } from '../helpers/media.js'

// What the upload page says when an upload cannot work, in words a teacher can act on.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (!existsSync(CHROMIUM) && ci) throw new Error(`no Chromium at ${CHROMIUM}, but CI must run the web UI tests (.ci/run installs it)`)

t.test('upload errors: too large, not a video, network lost (paused, then resumed), signed out', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  const { app } = await buildTestApp(t, { UPLOAD_MAX_MB: '1' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const dir = await mediaDir(t)
  const big = join(dir, 'big.mp4')
  await writeFile(big, randomBytes(1536 * 1024))
  const text = join(dir, 'notes.mp4')
  await writeFile(text, 'Lecture notes\nThese are not a video.\n'.repeat(100))
  const clip = await makeClip({ seconds: 1, width: 160, height: 90, dir })

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.goto(`${origin}/upload`)
  await page.waitForSelector('#signed-out:not([hidden])')
  t.equal(await page.isVisible('#upload-form'), false, 'signed out, the page asks to sign in instead of showing the form')
  await page.click('#signed-out button:has-text("Create an account")')
  await page.fill('#signed-out input[name="name"]', 'Ada')
  await page.fill('#signed-out input[name="email"]', 'ada@example.org')
  await page.fill('#signed-out input[name="password"]', 'correct horse battery')
  await page.click('#signed-out button[type="submit"]')
  await page.waitForSelector('#upload-form:not([hidden])')
  await page.waitForSelector('#limit-hint:has-text("up to 1.0 MB")')

  await page.setInputFiles('#file', big)
  await page.click('#upload-button')
  t.match(await page.textContent('#form-error'), /too large: 1\.5 MB, and the limit on this server is 1\.0 MB/, 'too large: says the size and the limit, before sending')
  t.equal(await page.inputValue('#title'), 'big', 'the title was filled in from the file name')

  const tryUpload = async (file: string): Promise<string> => {
    await page.setInputFiles('#file', file)
    await page.fill('#title', 'A lecture')
    await page.click('#upload-button')
    await page.waitForSelector('#again-button:not([hidden])')
    return await page.textContent('#upload-error') ?? ''
  }
  const again = async (): Promise<void> => {
    await page.click('#again-button')
    await page.waitForSelector('#upload-form:not([hidden])')
  }

  t.match(await tryUpload(text), /not a video Lectern can read\. Choose a video file/, 'not a video (415)')
  await again()

  // The server's own 413, as when a proxy or another node has a lower limit than the page knew.
  await page.route('**/assets/config.json', (route) => route.fulfill({ json: { uploadMaxBytes: 1024 ** 3, hlsScript: '' } }))
  await page.reload()
  await page.waitForSelector('#limit-hint:has-text("up to 1.0 GB")')
  t.match(await tryUpload(big), /This file is too large for this server \(the limit is 1 MB\)\. Ask your administrator/, 'too large, said by the server (413)')
  await page.unroute('**/assets/config.json')
  await page.reload()
  await page.waitForSelector('#limit-hint:has-text("up to 1.0 MB")')

  // Offline: the upload does not fail, it pauses (and says so), then goes on by itself once the
  // network is back, and the original is the clip byte for byte.
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
  await page.setInputFiles('#file', clip)
  await page.fill('#title', 'A lecture')
  await page.click('#upload-button')
  await page.waitForSelector('#progress-panel[data-state="paused"]')
  t.match(await page.textContent('#upload-status'), /Paused at 0%: .*It goes on by itself as soon as Lectern can be reached again/, 'network lost: paused, and says it will go on')
  t.equal(await page.isVisible('#resume-button'), true, 'with a button to try now')
  t.equal(await page.textContent('#upload-error'), '', 'and no error')
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
  await page.waitForSelector('#progress-panel[data-state="sent"]')
  t.match(await page.textContent('#send-text'), /^100%/, 'back online, it finished by itself')
  const sent = await app.storage.list('originals/')
  t.equal(sent.length, 1, 'one original')
  const bytes: Buffer[] = []
  for await (const chunk of await app.storage.get(sent[0]!.key)) bytes.push(chunk as Buffer)
  t.ok(Buffer.concat(bytes).equals(await readFile(clip)), 'byte for byte the clip')
  await page.reload()
  await page.waitForSelector('#upload-form:not([hidden])')

  // An access token the server no longer accepts (it expired while the laptop slept): the page
  // renews it with the refresh cookie, once, and the upload goes on.
  const spoil = `(() => { const s = JSON.parse(sessionStorage.getItem('lectern.session')); s.token = s.token.slice(0, -4) + 'AAAA'; sessionStorage.setItem('lectern.session', JSON.stringify(s)) })()`
  await page.evaluate(spoil)
  await page.setInputFiles('#file', clip)
  await page.fill('#title', 'After a sleep')
  await page.click('#upload-button')
  await page.waitForSelector('#progress-panel[data-state="sent"]')
  t.equal(await page.textContent('#upload-error'), '', 'a refused access token is renewed, and the upload goes on')
  t.equal((await app.storage.list('originals/')).length, 2, 'and is stored')
  await page.reload()
  await page.waitForSelector('#upload-form:not([hidden])')

  // Signed out for good: the access token refused and no refresh cookie to renew it.
  await page.evaluate(spoil)
  await page.context().clearCookies()
  t.match(await tryUpload(clip), /You are signed out.*Sign in again/, 'signed out (401)')
  t.match(await page.textContent('#account'), /Sign in/, 'and the header shows the tab as signed out')
  await page.click('#again-button')
  await page.waitForSelector('#signed-out:not([hidden])')
  t.equal((await app.storage.list('originals/')).length, 2, 'nothing else was stored')
})
