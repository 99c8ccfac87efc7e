import t, { type Test } from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { decodeMail, startSmtpSink } from '../helpers/smtp-sink.js'
import { loadConfig } from '../../src/config.js'

// SIGNUP_CONFIRMATION=email (the default): after the first account, and without an invitation,
// sign-up answers 202 and the same body whether or not the email has an account; a mail then
// carries a link that makes the account, or says that the address already has one.

const PUBLIC_URL = 'https://lectern.example.org'
let ip = 0
const nextIp = () => `10.9.0.${++ip}`

async function register (app: FastifyInstance, email: string, password: string, extra: Record<string, string> = {}) {
  return await app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: nextIp(), payload: { email, password, name: 'Zed Quux', ...extra } })
}
async function confirm (app: FastifyInstance, code: string) {
  return await app.inject({ method: 'POST', url: '/api/auth/confirm', remoteAddress: nextIp(), payload: { code } })
}
async function login (app: FastifyInstance, email: string, password: string) {
  return await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: nextIp(), payload: { email, password } })
}
function codeIn (text: string): string | undefined {
  return /\?confirm=([A-Za-z0-9_-]+)/.exec(text)?.[1]
}
/** Headers a client sees, less those that differ between any two answers (the date, the rate-limit window's end). */
function stableHeaders (res: LightMyRequestResponse) {
  const { date: _d, 'x-ratelimit-reset': _r, ...rest } = res.headers
  return rest
}

async function appWithSmtp (t: Test, env: Record<string, string> = {}) {
  const smtp = await startSmtpSink(t)
  const built = await buildTestApp(t, {
    SIGNUP_CONFIRMATION: 'email', SMTP_URL: smtp.url, MAIL_FROM: 'Lectern <lectern@example.org>', PUBLIC_URL, ...env
  })
  return { ...built, smtp }
}

t.test('a taken and a new email get byte-identical answers; the mails differ, and only the link makes an account', async (t) => {
  const { app, smtp } = await appWithSmtp(t)
  const first = await register(app, 'ann@example.org', 'ann password 123')
  t.equal(first.statusCode, 201, 'the first account is made at once (and is the admin)')
  t.equal(first.json().user.role, 'admin')
  const admin = { authorization: `Bearer ${first.json().token as string}` }

  const taken = await register(app, 'ann@example.org', 'another password 1')
  const fresh = await register(app, 'amy@example.org', 'amy password 1234')
  t.equal(taken.statusCode, 202)
  t.equal(fresh.statusCode, 202)
  t.equal(taken.body, fresh.body, 'the same bytes either way')
  t.same(stableHeaders(taken), stableHeaders(fresh), 'and the same headers')
  t.same(fresh.json(), { message: 'Check your inbox at a…@example.org: we sent a link to finish signing up. It is valid for 24 hours.' })
  t.equal(fresh.headers['cache-control'], 'no-store')

  const mails = await smtp.next(2)
  const toAnn = mails.find((m) => m.to[0] === 'ann@example.org')!
  const toAmy = mails.find((m) => m.to[0] === 'amy@example.org')!
  t.ok(toAnn !== undefined && toAmy !== undefined, 'one mail to each address, through the SMTP server with its user and password')
  t.match(toAnn.raw, /^From: Lectern <lectern@example\.org>/m, 'from MAIL_FROM')
  t.match(toAnn.text, /already has one/)
  t.match(toAnn.text, `open ${PUBLIC_URL}/ and choose "Sign in"`)
  t.equal(codeIn(toAnn.text), undefined, 'no sign-up link for a taken address')
  t.notMatch(toAnn.text + toAmy.text, /password 1/, 'no password in any mail')
  t.notMatch(toAnn.text + toAmy.text, /Zed Quux/, 'nor the name someone typed (it could be anything)')

  // Nothing is made before the link is followed; the existing account is untouched.
  t.equal((await login(app, 'ann@example.org', 'ann password 123')).statusCode, 200)
  t.equal((await login(app, 'ann@example.org', 'another password 1')).statusCode, 401)
  t.equal((await login(app, 'amy@example.org', 'amy password 1234')).statusCode, 401, 'no account for amy yet')
  t.equal((await app.inject({ url: '/api/users', headers: admin })).json().items.length, 1)

  t.match(toAmy.subject, /Finish signing up/)
  t.match(toAmy.text, new RegExp(`${PUBLIC_URL.replace(/\./g, '\\.')}/\\?confirm=[A-Za-z0-9_-]{43}\\b`), 'a link to PUBLIC_URL with a 256-bit code')
  const code = codeIn(toAmy.text)!
  const confirmed = await confirm(app, code)
  t.equal(confirmed.statusCode, 201)
  const session = confirmed.json()
  t.equal(session.user.email, 'amy@example.org')
  t.equal(session.user.name, 'Zed Quux')
  t.equal(session.user.role, 'teacher', 'DEFAULT_ROLE')
  t.match(String(confirmed.headers['set-cookie']), /^lectern_refresh=/, 'signed in as register does: the refresh cookie too')
  const me = await app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${session.token as string}` } })
  t.equal(me.json().user.email, 'amy@example.org', 'the access token works')
  t.equal((await login(app, 'amy@example.org', 'amy password 1234')).statusCode, 200, 'the password chosen at sign-up signs in')

  const again = await confirm(app, code)
  t.equal(again.statusCode, 403, 'a link works once')
  t.match(again.json().message, /unknown, already used or expired.*sign up again/)
  const garbage = await confirm(app, 'x'.repeat(43))
  t.equal(garbage.statusCode, 403)
  t.equal(garbage.json().message, again.json().message, 'an unknown code gets the same answer')
  t.equal((await app.inject({ url: '/api/users', headers: admin })).json().items.length, 2)
})

t.test('a link expires', async (t) => {
  const { app, smtp } = await appWithSmtp(t)
  t.equal((await register(app, 'admin@example.org', 'admin password 1')).statusCode, 201)
  t.equal((await register(app, 'late@example.org', 'late password 12')).statusCode, 202)
  const [mail] = await smtp.next()
  // The 24 hours pass.
  await app.db.collection('signups').updateMany({ email: 'late@example.org' }, { $set: { expiresAt: new Date(Date.now() - 1000) } })
  const res = await confirm(app, codeIn(mail!.text)!)
  t.equal(res.statusCode, 403)
  t.match(res.json().message, /expired/)
  t.equal((await login(app, 'late@example.org', 'late password 12')).statusCode, 401, 'no account')
})

t.test('two pending sign-ups for one email: the first confirmed wins, the other is refused with a reason', async (t) => {
  const { app, smtp } = await appWithSmtp(t)
  const admin = await register(app, 'admin@example.org', 'admin password 1')
  t.equal((await register(app, 'bob@example.org', 'first password 1')).statusCode, 202)
  t.equal((await register(app, 'bob@example.org', 'second password 2')).statusCode, 202)
  const mails = await smtp.next(2)
  const codes = mails.map((m) => codeIn(m.text)!)
  t.equal(new Set(codes).size, 2, 'two links, both for bob')
  // Followed at the same time: exactly one account.
  const answers = await Promise.all(codes.map((c) => confirm(app, c)))
  t.same(answers.map((a) => a.statusCode).sort(), [201, 409])
  const refused = answers.find((a) => a.statusCode === 409)!
  t.match(refused.json().message, /already has an account.*sign in/)
  const users = (await app.inject({ url: '/api/users', headers: { authorization: `Bearer ${admin.json().token as string}` } })).json().items
  t.same(users.map((u: { email: string }) => u.email).sort(), ['admin@example.org', 'bob@example.org'])
  const winner = answers.indexOf(answers.find((a) => a.statusCode === 201)!)
  const passwords = ['first password 1', 'second password 2']
  t.equal((await login(app, 'bob@example.org', passwords[winner]!)).statusCode, 200, 'the winning link\'s password signs in')
  t.equal((await login(app, 'bob@example.org', passwords[1 - winner]!)).statusCode, 401, 'the other one does not')
})

t.test('one address gets at most 5 sign-up mails an hour, with the same answer past the limit', async (t) => {
  const { app, smtp } = await appWithSmtp(t)
  t.equal((await register(app, 'admin@example.org', 'admin password 1')).statusCode, 201)
  const answers = []
  for (let i = 0; i < 7; i++) answers.push(await register(app, 'amos@example.org', `amos password ${i}x`))
  for (let i = 0; i < 7; i++) answers.push(await register(app, 'admin@example.org', `admin password ${i}x`))
  t.same(new Set(answers.map((a) => `${a.statusCode} ${a.body}`)).size, 1, 'every answer the same, under and over the limit')
  t.equal(answers[0]!.statusCode, 202)
  // Closing waits for the mails still being sent.
  await app.close()
  const count = (to: string) => smtp.mails.filter((m) => m.to[0] === to).length
  t.equal(count('amos@example.org'), 5, 'a new address: five links')
  t.equal(count('admin@example.org'), 5, 'an address with an account: five notes')
})

t.test('without SMTP_URL the mail lands in DATA_DIR/outbox and its link is logged for the operator', async (t) => {
  const stream = new PassThrough()
  const lines: Array<Record<string, unknown>> = []
  stream.on('data', (chunk: Buffer) => { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l)) })
  const { app, config } = await buildTestApp(t, { SIGNUP_CONFIRMATION: 'email' }, { logger: { level: 'info', stream } })
  t.match(lines.map((l) => l.msg).join('\n'), /SMTP_URL is not set: sign-up mails are written to DATA_DIR\/outbox/, 'start-up says so')
  t.equal((await register(app, 'admin@example.org', 'admin password 1')).statusCode, 201)
  t.equal((await register(app, 'cat@example.org', 'cat password 123')).statusCode, 202)
  const outbox = join(config.dataDir, 'outbox')
  let files: string[] = []
  for (let i = 0; files.length === 0 && i < 400; i++) {
    files = await readdir(outbox).catch(() => [])
    if (files.length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(files.length, 1)
  t.match(files[0], /\.eml$/)
  const { subject, text } = decodeMail(await readFile(join(outbox, files[0]!), 'utf8'))
  t.match(subject, /Finish signing up/)
  const code = codeIn(text)!
  t.match(text, `${config.publicUrl}/?confirm=${code}`, 'the link points at HOST:PORT without PUBLIC_URL')
  const logged = lines.find((l) => typeof l.link === 'string')
  t.equal(logged?.link, `${config.publicUrl}/?confirm=${code}`, 'the link is in the log')
  t.equal(logged?.level, 30, 'at info')
  t.match(String(logged?.msg), /set SMTP_URL/)
  t.equal((await confirm(app, code)).statusCode, 201, 'and works')
})

t.test('SIGNUP_CONFIRMATION=off: the account at once, 409 for a taken email (as before)', async (t) => {
  const { app, config } = await buildTestApp(t, { SIGNUP_CONFIRMATION: 'off' })
  t.equal((await register(app, 'admin@example.org', 'admin password 1')).statusCode, 201)
  t.equal((await register(app, 'dan@example.org', 'dan password 123')).statusCode, 201)
  const dup = await register(app, 'dan@example.org', 'dan password 123')
  t.equal(dup.statusCode, 409)
  t.equal(await readdir(join(config.dataDir, 'outbox')).catch(() => 'none'), 'none', 'no mail written')
})

t.test('an invitation link still makes the account at once', async (t) => {
  const { app, smtp } = await appWithSmtp(t, { REGISTRATION: 'invite' })
  const admin = await register(app, 'admin@example.org', 'admin password 1')
  const auth = { authorization: `Bearer ${admin.json().token as string}` }
  const { code } = (await app.inject({ method: 'POST', url: '/api/invitations', headers: auth, payload: { role: 'student' } })).json()
  const invited = await register(app, 'eve@example.org', 'eve password 123', { invite: code })
  t.equal(invited.statusCode, 201)
  t.equal(invited.json().user.role, 'student')
  t.equal((await register(app, 'fay@example.org', 'fay password 123')).statusCode, 403, 'without one: refused as before, no mail')
  t.equal(smtp.mails.length, 0)
})

t.test('confirm is rate limited as register is', async (t) => {
  const { app } = await buildTestApp(t, { SIGNUP_CONFIRMATION: 'email' }, { authRateLimit: { max: 2, timeWindowMs: 60_000 } })
  const tries = []
  for (let i = 0; i < 3; i++) tries.push(await app.inject({ method: 'POST', url: '/api/auth/confirm', remoteAddress: '10.9.9.9', payload: { code: 'y'.repeat(43) } }))
  t.same(tries.map((r) => r.statusCode), [403, 403, 429])
  t.match(tries[2]!.json().message, /too many attempts from this address; try again in \d+ s/)
})

t.test('config: SMTP_URL needs PUBLIC_URL and MAIL_FROM; a bad SMTP_URL is not echoed', async (t) => {
  const smtp = 'smtp://u:s3cret@mail.example.org:587'
  t.throws(() => loadConfig({ SMTP_URL: smtp, MAIL_FROM: 'a@example.org' }), /^PUBLIC_URL: is required with SMTP_URL/)
  t.throws(() => loadConfig({ SMTP_URL: smtp, PUBLIC_URL: PUBLIC_URL }), /^MAIL_FROM: is required with SMTP_URL/)
  t.throws(() => loadConfig({ SIGNUP_CONFIRMATION: 'maybe' }), /^SIGNUP_CONFIRMATION: must be email or off/)
  let message = ''
  try { loadConfig({ SMTP_URL: 'http://u:s3cret@mail.example.org' }) } catch (err) { message = (err as Error).message }
  t.match(message, /^SMTP_URL: must be smtp:\/\//)
  t.notMatch(message, /s3cret/)
  const config = loadConfig({ SMTP_URL: smtp, MAIL_FROM: 'Lectern <a@example.org>', PUBLIC_URL: `${PUBLIC_URL}/` })
  t.equal(config.publicUrl, PUBLIC_URL, 'a trailing slash is dropped')
  t.equal(config.signupConfirmation, 'email', 'the default')
})
