import { createHmac, scryptSync } from 'node:crypto'
import t from 'tap'
import Fastify from 'fastify'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import { buildTestApp } from '../helpers/app.js'
import { testConfig } from '../helpers/config.js'
import { purposeKey } from '../helpers/forge.js'
import type { User } from '../../src/db/documents.js'
import { errorHandler } from '../../src/error-handler.js'
import dbPlugin from '../../src/db/db-plugin.js'
import authPlugin, { currentUser } from '../../plugins/auth.js'
import { insertAccount, registerAccount } from './accounts.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

/** A JWT made by hand, so that tests can forge what the server must refuse. */
function craftToken (header: object, payload: object, key: Buffer | string, hmac = 'sha256'): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac(hmac, key).update(input).digest('base64url')}`
}

const now = () => Math.floor(Date.now() / 1000)

const SECRET = 'a server secret of at least 32 characters, for the tests'

t.test('register, login and me', async (t) => {
  const { app } = await buildTestApp(t, { JWT_SECRET: SECRET })
  const reg = await app.inject({
    method: 'POST', url: '/api/auth/register', payload: { email: '  Ann.Lee@Example.ORG ', password: 'correct horse battery', name: ' Ann  Lee ' }
  })
  t.equal(reg.statusCode, 201)
  const body = reg.json()
  t.equal(body.user.email, 'ann.lee@example.org', 'email normalised')
  t.equal(body.user.name, 'Ann Lee')
  t.equal(body.user.role, 'admin', 'the first account is the admin')
  t.notOk('passwordHash' in body.user)
  t.notOk('passwordSalt' in body.user)
  t.equal(body.expiresIn, 900, 'access tokens are short-lived (JWT_EXPIRES_IN_S, 15 minutes)')

  // The token is an HS256 JWT with the id, the role and an expiry.
  const [header, payload] = body.token.split('.').slice(0, 2).map((p: string) => JSON.parse(Buffer.from(p, 'base64url').toString()))
  t.equal(header.alg, 'HS256')
  t.equal(payload.sub, body.user.id)
  t.equal(payload.role, 'admin')
  t.equal(payload.exp - payload.iat, 900)
  const [h64, p64, sig] = body.token.split('.') as [string, string, string]
  t.equal(sig, createHmac('sha256', purposeKey(SECRET, 'jwt')).update(`${h64}.${p64}`).digest('base64url'), 'signed with HMAC-SHA256 under the key derived from JWT_SECRET for "jwt"')
  const stored = await app.db.collection<User>('users').findOne({ _id: body.user.id })
  t.equal(stored?.passwordHash, scryptSync('correct horse battery'.normalize('NFKC'), Buffer.from(stored!.passwordSalt, 'hex'), 64, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }).toString('hex'),
    'the stored password is scrypt (N=2^15, r=8, p=1) over its per-user salt')

  const second = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: 'bo@example.org', password: 'another good one', name: 'Bo' } })
  t.equal(second.json().user.role, 'teacher', 'later accounts get DEFAULT_ROLE (teacher unless set)')

  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'ANN.LEE@example.org', password: 'correct horse battery' } })
  t.equal(login.statusCode, 200)
  t.equal(login.json().user.id, body.user.id)

  const me = await app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${login.json().token}` } })
  t.equal(me.statusCode, 200)
  t.same(me.json().user, body.user)
})

t.test('a duplicate email is a 409, whatever its case', async (t) => {
  const { app } = await buildTestApp(t)
  const payload = { email: 'dup@example.org', password: 'correct horse battery', name: 'A' }
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/register', payload })).statusCode, 201)
  const again = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { ...payload, email: ' DUP@Example.org' } })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'LECTERN_ERR_DUPLICATE')
  t.match(again.json().message, /dup@example\.org already exists/)
})

t.test('bad registration input is a 400 naming the field', async (t) => {
  const { app } = await buildTestApp(t)
  const good = { email: 'x@example.org', password: 'correct horse battery', name: 'X' }
  const cases: Array<[object, RegExp]> = [
    [{ ...good, email: 'not-an-email' }, /body\.email: must be an email address/],
    [{ ...good, email: 'a@b' }, /body\.email: must be an email address/],
    [{ ...good, password: 'short' }, /body\.password: must be at least 10 characters/],
    [{ ...good, password: 'x'.repeat(2000) }, /body\.password: must be at most 1024/],
    [{ ...good, name: '   ' }, /body\.name: must not be empty/],
    [{ email: good.email, name: 'X' }, /body\.password/],
    [{ password: good.password, name: 'X' }, /body\.email/]
  ]
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/register', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80))
    t.equal(res.json().code, 'LECTERN_ERR_VALIDATION')
    t.match(res.json().message, message)
  }
  const notJson = await app.inject({ method: 'POST', url: '/api/auth/register', headers: { 'content-type': 'application/json' }, payload: '{"email":' })
  t.equal(notJson.statusCode, 400)
})

t.test('a failed login says the same whether or not the email exists', async (t) => {
  const { app } = await buildTestApp(t)
  await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: 'real@example.org', password: 'correct horse battery', name: 'R' } })
  const wrongPassword = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'real@example.org', password: 'wrong password!' } })
  const noSuchUser = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'ghost@example.org', password: 'wrong password!' } })
  const shortPassword = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'real@example.org', password: 'x' } })
  for (const res of [wrongPassword, noSuchUser, shortPassword]) {
    t.equal(res.statusCode, 401)
    t.same(res.json(), { statusCode: 401, code: 'LECTERN_ERR_UNAUTHORIZED', error: 'Unauthorized', message: 'email or password is wrong' })
  }
})

t.test('the first account of an empty store is the only admin, even when registrations race', async (t) => {
  const { app } = await buildTestApp(t)
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => app.inject({
    method: 'POST', url: '/api/auth/register', remoteAddress: `10.0.0.${i + 1}`, payload: { email: `r${i}@example.org`, password: 'correct horse battery', name: `R${i}` }
  })))
  t.same(results.map((r) => r.statusCode), Array(6).fill(201))
  t.equal(results.filter((r) => r.json().user.role === 'admin').length, 1, 'exactly one admin')
})

t.test('tokens: missing, malformed, expired, forged', async (t) => {
  const { app } = await buildTestApp(t)
  await registerAccount(app, 'admin')
  const account = await registerAccount(app)
  t.equal(account.role, 'teacher')
  const key = purposeKey(app.secret, 'jwt')
  const claims = { sub: account.id, role: 'teacher', iat: now(), exp: now() + 600 }
  t.equal((await app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${craftToken({ alg: 'HS256', typ: 'JWT' }, claims, key)}` } })).statusCode, 200,
    'a well-made token with the right key is accepted (so the refusals below are about what they change)')

  const [h, p, s] = account.token.split('.')
  const tampered = `${h}.${b64({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), role: 'admin' })}.${s}`
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no header', {}, /sign in first/],
    ['not Bearer', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /must be "Bearer <token>"/],
    ['garbage', { authorization: 'Bearer not.a.jwt' }, /malformed|not valid/],
    ['expired', { authorization: `Bearer ${craftToken({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now() - 7200, exp: now() - 3600 }, key)}` }, /expired/],
    ['wrong secret', { authorization: `Bearer ${craftToken({ alg: 'HS256', typ: 'JWT' }, claims, 'some other secret at least 32 chars long')}` }, /signature is not valid/],
    ['alg none', { authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.` }, /not issued by this server|not valid/],
    ['HS512 with the right key', { authorization: `Bearer ${craftToken({ alg: 'HS512', typ: 'JWT' }, claims, key, 'sha512')}` }, /not signed with HS256/],
    ['tampered payload', { authorization: `Bearer ${tampered}` }, /signature is not valid/],
    ['no subject', { authorization: `Bearer ${craftToken({ alg: 'HS256', typ: 'JWT' }, { role: 'admin', iat: now(), exp: now() + 60 }, key)}` }, /does not name a user/]
  ]
  for (const [name, headers, message] of cases) {
    const res = await app.inject({ url: '/api/auth/me', headers })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, 'LECTERN_ERR_UNAUTHORIZED', name)
    t.match(res.json().message, message, name)
  }
})

t.test('a token whose account is gone no longer reaches /me', async (t) => {
  const { app } = await buildTestApp(t)
  const key = purposeKey(app.secret, 'jwt')
  const token = craftToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'ffffffffffffffffffff', role: 'user', iat: now(), exp: now() + 60 }, key)
  const res = await app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 401)
  t.match(res.json().message, /no longer exists/)
})

t.test('login and register are rate limited per IP, each on its own', async (t) => {
  const { app } = await buildTestApp(t, {}, { authRateLimit: { max: 3, timeWindowMs: 60_000 } })
  const login = (ip: string) => app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { email: 'a@example.org', password: 'whatever it is' } })
  for (let i = 0; i < 3; i++) t.equal((await login('10.1.1.1')).statusCode, 401)
  const limited = await login('10.1.1.1')
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'LECTERN_ERR_RATE_LIMITED')
  t.match(limited.json().message, /too many attempts.*try again in \d+ s/)
  t.ok(limited.headers['retry-after'], 'says when to retry')
  t.equal((await login('10.1.1.2')).statusCode, 401, 'another address is not affected')
  const reg = await app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: '10.1.1.1', payload: { email: 'n@example.org', password: 'correct horse battery', name: 'N' } })
  t.equal(reg.statusCode, 201, 'register has its own budget')
  t.equal((await app.inject({ url: '/health/live', remoteAddress: '10.1.1.1' })).statusCode, 200, 'other routes are not limited')
})

t.test('authenticateOptional and requireRole', async (t) => {
  const config = await testConfig(t)
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setErrorHandler(errorHandler)
  app.decorate('config', config)
  app.decorate('secret', 'a test secret that is long enough for the key')
  await app.register(dbPlugin, { config })
  await app.register(authPlugin)
  app.get('/optional', { preHandler: (r, s) => app.authenticateOptional(r, s) }, async (request) => ({ user: currentUser(request) ?? null }))
  app.get('/admin', { preHandler: [(r, s) => app.authenticate(r, s), (r, s) => app.requireRole('admin')(r, s)] }, async () => ({ ok: true }))
  await app.ready()
  await insertAccount(app, 'aaaaaaaaaaaaaaaaaaaa', 'teacher')

  const key = purposeKey(app.secret, 'jwt')
  const token = (role: string) => craftToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'aaaaaaaaaaaaaaaaaaaa', role, iat: now(), exp: now() + 60 }, key)

  t.same((await app.inject({ url: '/optional' })).json(), { user: null }, 'absent: no user, no error')
  t.same((await app.inject({ url: '/optional', headers: { authorization: `Bearer ${token('teacher')}` } })).json(), { user: { sub: 'aaaaaaaaaaaaaaaaaaaa', role: 'teacher' } })
  t.equal((await app.inject({ url: '/optional', headers: { authorization: 'Bearer x.y.z' } })).statusCode, 401, 'present but invalid: 401')

  t.equal((await app.inject({ url: '/admin' })).statusCode, 401)
  const asUser = await app.inject({ url: '/admin', headers: { authorization: `Bearer ${token('teacher')}` } })
  t.equal(asUser.statusCode, 403)
  t.equal(asUser.json().code, 'LECTERN_ERR_FORBIDDEN')
  t.equal((await app.inject({ url: '/admin', headers: { authorization: `Bearer ${token('admin')}` } })).statusCode, 403,
    'the role claimed in a token does not count: the account\'s role does')
  await insertAccount(app, 'bbbbbbbbbbbbbbbbbbbb', 'admin')
  t.equal((await app.inject({ url: '/admin', headers: { authorization: `Bearer ${craftToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'bbbbbbbbbbbbbbbbbbbb', iat: now(), exp: now() + 60 }, key)}` } })).statusCode, 200)
})

t.test('with Redis, the login budget of an address is shared by every API node', async (t) => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const limit = { authRateLimit: { max: 3, timeWindowMs: 60_000 } }
  const { app: nodeA } = await buildTestApp(t, { REDIS_URL: redis.url }, limit)
  const { app: nodeB } = await buildTestApp(t, { REDIS_URL: redis.url }, limit)
  const login = (app: typeof nodeA) => app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.2.2.2', payload: { email: 'a@example.org', password: 'whatever it is' } })
  t.equal((await login(nodeA)).statusCode, 401)
  t.equal((await login(nodeB)).statusCode, 401)
  t.equal((await login(nodeA)).statusCode, 401)
  t.equal((await login(nodeB)).statusCode, 429, 'the fourth attempt is refused, whichever node it reaches')

  // Redis gone: sign-ins still work (not limited meanwhile) rather than failing.
  await redis.kill()
  const res = await login(nodeA)
  t.equal(res.statusCode, 401, 'answered normally while Redis is down')
})

t.test('by default login and register each allow 20 attempts a minute per address', async (t) => {
  const { app } = await buildTestApp(t)
  // Every attempt counts, a malformed one too (and those cost no scrypt, which keeps this quick).
  const attempt = (url: string, ip: string) => app.inject({ method: 'POST', url, remoteAddress: ip, payload: { email: 'nobody@example.org' } })
  for (const url of ['/api/auth/login', '/api/auth/register']) {
    const statuses = []
    for (let i = 0; i < 21; i++) statuses.push((await attempt(url, '10.3.3.3')).statusCode)
    t.same(statuses, [...Array(20).fill(400), 429], `${url}: the 21st attempt within the minute is refused`)
    const limited = await attempt(url, '10.3.3.3')
    const retry = Number(limited.headers['retry-after'])
    t.ok(retry > 0 && retry <= 60, `${url}: retry after ${retry} s, within the minute`)
  }
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.3.3.4', payload: { email: 'nobody@example.org', password: 'whatever it is' } })).statusCode, 401, 'another address is not limited')
})

t.test('TRUST_PROXY: behind a proxy the client address comes from X-Forwarded-For; otherwise the header is ignored', async (t) => {
  const attempts = async (app: Awaited<ReturnType<typeof buildTestApp>>['app'], forwardedFor: string, n: number) => {
    const statuses = []
    for (let i = 0; i < n; i++) {
      statuses.push((await app.inject({
        method: 'POST', url: '/api/auth/login', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': forwardedFor }, payload: { email: 'nobody@example.org', password: 'whatever it is' }
      })).statusCode)
    }
    return statuses
  }
  const limit = { authRateLimit: { max: 2, timeWindowMs: 60_000 } }
  const { app: proxied } = await buildTestApp(t, { TRUST_PROXY: 'true' }, limit)
  t.same(await attempts(proxied, '203.0.113.7', 3), [401, 401, 429], 'one client behind the proxy reaches its limit')
  t.same(await attempts(proxied, '203.0.113.8', 1), [401], 'another client behind the same proxy has its own budget')
  // A client that sends its own X-Forwarded-For: nginx appends the real address, and only that one counts.
  t.same(await attempts(proxied, '198.51.100.1, 203.0.113.7', 1), [429], 'a forged first entry does not give the client a new budget')

  const { app: direct } = await buildTestApp(t, {}, limit)
  t.same(await attempts(direct, '203.0.113.7', 2), [401, 401])
  t.same(await attempts(direct, '203.0.113.8', 1), [429], 'without TRUST_PROXY, X-Forwarded-For is ignored: every request is the proxy\'s own address')
})
