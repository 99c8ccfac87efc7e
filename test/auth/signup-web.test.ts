import { existsSync } from 'node:fs'
import t from 'tap'
import { chromium } from 'playwright-core'
import { buildTestApp } from '../helpers/app.js'
import { startSmtpSink } from '../helpers/smtp-sink.js'

// Signing up in the web UI with SIGNUP_CONFIRMATION=email: the form says to check the inbox; the
// mail's link opens a step that finishes the sign-up with one click and signs the person in; the
// link followed again says why it no longer works.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ci = ![undefined, '', 'false', '0'].includes(process.env.CI)
if (!existsSync(CHROMIUM) && ci) throw new Error(`no Chromium at ${CHROMIUM}, but CI must run the web UI tests`)

t.test('sign up in the web UI: check your inbox, then the link signs in', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  const smtp = await startSmtpSink(t)
  const { app } = await buildTestApp(t, { SIGNUP_CONFIRMATION: 'email', SMTP_URL: smtp.url, MAIL_FROM: 'lectern@example.org', PUBLIC_URL: 'http://lectern.test' })
  const origin = await app.listen({ port: 0, host: '127.0.0.1' })
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: 'admin@example.org', password: 'correct horse battery', name: 'Admin' } })).statusCode, 201)

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const page = await (await browser.newContext()).newPage()
  await page.goto(`${origin}/`)
  const form = '#account-panel form'
  await page.click(`${form} button:has-text("Create an account")`)
  await page.fill(`${form} input[name="name"]`, 'Nia New')
  await page.fill(`${form} input[name="email"]`, 'nia@example.org')
  await page.fill(`${form} input[name="password"]`, 'correct horse battery')
  await page.click(`${form} button[type="submit"]`)
  await page.waitForSelector(`${form} h2:has-text("Check your inbox")`)
  t.match(await page.textContent(`${form} [role="status"]`), /^Check your inbox at n…@example\.org: we sent a link to finish signing up\. It is valid for 24 hours\./)
  t.equal(await page.locator(`${form} input[name="password"]:visible`).count(), 0, 'the fields are put away')
  t.equal(await page.locator('#account button:has-text("Sign in")').count(), 1, 'not signed in yet')

  const [mail] = await smtp.next()
  const code = /\/\?confirm=([A-Za-z0-9_-]{43})/.exec(mail!.text)?.[1]
  t.ok(code, 'the mail has the link')
  const link = await (await browser.newContext()).newPage()
  await link.goto(`${origin}/?confirm=${code!}`)
  await link.waitForSelector(`${form} h2:has-text("Finish signing up")`)
  t.equal(await link.locator('#account :text("Nia New")').count(), 0, 'opening the link alone does not sign in')
  await link.click(`${form} button:has-text("Create my account")`)
  await link.waitForSelector('#account :text("Nia New")')
  t.notMatch(link.url(), /confirm=/, 'the used code leaves the address bar')
  const me = await link.evaluate('import("/assets/js/session.js").then((m) => m.api("/api/auth/me"))') as { user: { email: string } }
  t.equal(me.user.email, 'nia@example.org')

  // The same link again, in another browser: it says why, and offers to sign up again.
  const again = await (await browser.newContext()).newPage()
  await again.goto(`${origin}/?confirm=${code!}`)
  await again.click(`${form} button:has-text("Create my account")`)
  await again.waitForSelector(`${form} [role="alert"]:has-text("already used")`)
  t.match(await again.textContent(`${form} [role="alert"]`), /^This sign-up link is unknown, already used or expired .*sign up again to get a new one\.$/)
  t.equal(await again.textContent(`${form} button[type="submit"]`), 'Create account', 'the form is the sign-up form again')
})
