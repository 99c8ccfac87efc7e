import { existsSync } from 'node:fs'
import t from 'tap'
import { chromium } from 'playwright-core'
import { buildTestApp } from '../helpers/app.js'

// The web UI with short-lived access tokens: a student invited by link registers, sees no Upload
// link, keeps working after the access token runs out (the HttpOnly refresh cookie renews it), and
// signing out revokes the refresh token on the server.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ci = ![undefined, '', 'false', '0'].includes(process.env.CI)
if (!existsSync(CHROMIUM) && ci) throw new Error(`no Chromium at ${CHROMIUM}, but CI must run the web UI tests`)

t.test('an invited student signs in through the web UI and stays signed in past the access token', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, async (t) => {
  const { app } = await buildTestApp(t, { JWT_EXPIRES_IN_S: '2', REGISTRATION: 'invite' })
  const origin = await app.listen({ port: 0, host: '127.0.0.1' })
  const admin = (await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: 'admin@example.org', password: 'correct horse battery', name: 'Admin' } })).json()
  const invitation = (await app.inject({ method: 'POST', url: '/api/invitations', headers: { authorization: `Bearer ${admin.token as string}` }, payload: { role: 'student' } })).json()

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${origin}${invitation.url as string}`)
  const form = '#account-panel form'
  await page.waitForSelector(`${form} input[name="name"]:visible`)
  t.equal(await page.textContent(`${form} button[type="submit"]`), 'Create account', 'an invitation link opens on registration')
  await page.fill(`${form} input[name="name"]`, 'Stu Dent')
  await page.fill(`${form} input[name="email"]`, 'stu@example.org')
  await page.fill(`${form} input[name="password"]`, 'correct horse battery')
  await page.click(`${form} button[type="submit"]`)
  await page.waitForSelector('#account :text("Stu Dent")')

  const cookie = (await context.cookies()).find((c) => c.name === 'lectern_refresh')
  t.ok(cookie?.httpOnly === true && cookie.sameSite === 'Strict' && cookie.path === '/api/auth', 'the refresh token is an HttpOnly, SameSite=Strict cookie for /api/auth')
  t.equal(await page.evaluate('document.cookie'), '', 'which scripts cannot read')
  t.equal(await page.locator('a[href="/upload"]:visible').count(), 0, 'a student sees no Upload link')

  // Past the access token's lifetime, an API call still works: the page renews it with the cookie.
  const first = await page.evaluate('JSON.parse(sessionStorage.getItem("lectern.session")).token') as string
  await page.waitForTimeout(2500)
  const me = await page.evaluate('import("/assets/js/session.js").then((m) => m.api("/api/auth/me"))') as { user: { role: string, name: string } }
  t.same([me.user.name, me.user.role], ['Stu Dent', 'student'])
  const second = await page.evaluate('JSON.parse(sessionStorage.getItem("lectern.session")).token') as string
  t.not(second, first, 'with a new access token')

  // Signing out revokes the refresh token on the server, not only in the tab.
  const refreshToken = (await context.cookies()).find((c) => c.name === 'lectern_refresh')!.value
  await page.click('#account button:has-text("Sign out")')
  await page.waitForSelector('#account button:has-text("Sign in")')
  for (let i = 0; i < 50 && (await context.cookies()).some((c) => c.name === 'lectern_refresh'); i++) await page.waitForTimeout(50)
  t.notOk((await context.cookies()).some((c) => c.name === 'lectern_refresh'), 'the cookie is gone')
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } })).statusCode, 401, 'and the token no longer works')
})
