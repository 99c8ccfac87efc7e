import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { registerAccount } from '../plugins/accounts.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'
import type { FastifyInstance } from 'fastify'

// Short-lived access tokens, refresh tokens (rotated, revocable, an HttpOnly cookie for the web UI),
// and accounts checked on every request: a deleted account or a changed role counts at once.

const SECRET = 'the server secret of this test, 32 characters or more'

function cookieOf (setCookie: string | string[] | undefined): string {
  const line = Array.isArray(setCookie) ? setCookie[0]! : setCookie!
  return line.split(';')[0]!
}

async function login (app: FastifyInstance, email: string) {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: 'correct horse battery' } })
  t.equal(res.statusCode, 200)
  return res
}

t.test('sign-in sets an HttpOnly refresh cookie; a refresh rotates it; a used one ends the sign-in', async (t) => {
  const { app } = await buildTestApp(t, { JWT_SECRET: SECRET })
  await registerAccount(app, 'admin')
  const ann = await registerAccount(app, 'ann')
  const res = await login(app, ann.email)
  const setCookie = res.headers['set-cookie'] as string
  t.match(setCookie, /^lectern_refresh=[0-9a-f]{24}\.[A-Za-z0-9_-]{43}; Max-Age=2592000; Path=\/api\/auth; HttpOnly; SameSite=Strict$/, 'HttpOnly, SameSite=Strict, only for /api/auth, 30 days')
  t.equal(res.json().refreshToken, cookieOf(setCookie).slice('lectern_refresh='.length), 'the body carries the same token, for API clients')
  t.equal(res.headers['cache-control'], 'no-store')

  // The web UI: the cookie alone.
  const first = await app.inject({ method: 'POST', url: '/api/auth/refresh', headers: { cookie: cookieOf(setCookie) } })
  t.equal(first.statusCode, 200)
  const session = first.json()
  t.equal(session.user.id, ann.id)
  t.equal((await app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${session.token}` } })).statusCode, 200, 'the new access token works')
  const rotated = cookieOf(first.headers['set-cookie'])
  t.not(rotated, cookieOf(setCookie), 'a new refresh token each time')

  // An API client: the token in the body.
  const second = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: session.refreshToken } })
  t.equal(second.statusCode, 200)
  const third = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: second.json().refreshToken } })
  t.equal(third.statusCode, 200)

  // The first token again, long after it was used (the grace for two tabs is 10 s): a copy. The
  // whole sign-in ends, including the token its rightful holder has now.
  const clock = Date.now
  Date.now = () => clock() + 11_000
  t.teardown(() => { Date.now = clock })
  const replayed = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: session.refreshToken } })
  Date.now = clock
  t.equal(replayed.statusCode, 401)
  t.match(replayed.json().message, /sign in again/)
  t.match(replayed.headers['set-cookie'], /^lectern_refresh=; Max-Age=0/, 'the cookie is cleared')
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: third.json().refreshToken } })).statusCode, 401, 'the family is revoked')

  // Another sign-in of the same account is not affected.
  const other = await login(app, ann.email)
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: other.json().refreshToken } })).statusCode, 200)

  for (const bad of [undefined, 'garbage', '0123456789abcdef01234567.' + 'A'.repeat(43)]) {
    const r = await app.inject({ method: 'POST', url: '/api/auth/refresh', ...(bad === undefined ? {} : { payload: { refreshToken: bad } }) })
    t.equal(r.statusCode, 401, `refused: ${String(bad)}`)
  }
})

t.test('two tabs refreshing with one token at once both get a session', async (t) => {
  const { app } = await buildTestApp(t)
  const ann = await registerAccount(app, 'ann')
  const token = (await login(app, ann.email)).json().refreshToken
  const [a, b] = await Promise.all([1, 2].map(async () => await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: token } })))
  t.same([a!.statusCode, b!.statusCode], [200, 200])
})

t.test('sign-out revokes the refresh token', async (t) => {
  const { app } = await buildTestApp(t)
  const ann = await registerAccount(app, 'ann')
  const res = await login(app, ann.email)
  const out = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: cookieOf(res.headers['set-cookie']) } })
  t.equal(out.statusCode, 204)
  t.match(out.headers['set-cookie'], /^lectern_refresh=; Max-Age=0; Path=\/api\/auth; HttpOnly/)
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: res.json().refreshToken } })).statusCode, 401)
})

t.test('an expired access token says how to get a new one', async (t) => {
  const { app } = await buildTestApp(t, { JWT_EXPIRES_IN_S: '1' })
  const ann = await registerAccount(app, 'ann')
  await new Promise((resolve) => setTimeout(resolve, 2100))
  const res = await app.inject({ url: '/api/auth/me', headers: ann.auth })
  t.equal(res.statusCode, 401)
  t.match(res.json().message, /expired.*POST \/api\/auth\/refresh/)
})

/** Two API nodes on one database, with or without Redis. */
async function twoNodes (t: Test, env: Record<string, string> = {}) {
  const { app: a } = await buildTestApp(t, { JWT_SECRET: SECRET, ...env })
  const { app: b } = await buildTestApp(t, { JWT_SECRET: SECRET, ...env }, { db: a.db, storage: a.storage })
  return [a, b] as const
}

async function deletionAndRoleChange (t: Test, a: FastifyInstance, b: FastifyInstance) {
  const admin = await registerAccount(a, 'admin')
  const bo = await registerAccount(a, 'bo')
  const cy = await registerAccount(a, 'cy')
  const refresh = (await login(a, bo.email)).json().refreshToken
  for (const node of [a, b]) t.equal((await node.inject({ url: '/api/auth/me', headers: bo.auth })).statusCode, 200, 'bo is signed in on both nodes')
  for (const node of [a, b]) t.equal((await node.inject({ url: '/api/videos', headers: cy.auth })).statusCode, 200, 'cy, a teacher, is known on both nodes')

  // A role change counts on the next request, on both nodes, with the token bo already has.
  t.equal((await a.inject({ method: 'PATCH', url: `/api/users/${cy.id}`, headers: admin.auth, payload: { role: 'student' } })).statusCode, 200)
  const upload = async (node: FastifyInstance) => (await node.inject({ method: 'POST', url: '/api/videos', headers: { ...cy.auth, 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x--\r\n' })).statusCode
  let started = Date.now()
  while ((await upload(a)) !== 403 || (await upload(b)) !== 403) {
    if (Date.now() - started > 2000) throw new Error('the role change was not seen within 2 s')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.ok(Date.now() - started <= 1200, `a student now on both nodes after ${Date.now() - started} ms`)
  const refused = await b.inject({ method: 'POST', url: '/api/videos', headers: { ...cy.auth, 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x--\r\n' })
  t.match(refused.json().message, /teacher.*student/)

  // A deleted account's tokens stop working on both nodes within a second.
  for (const node of [a, b]) t.equal((await node.inject({ url: '/api/videos', headers: bo.auth })).statusCode, 200, 'bo is known on both nodes')
  t.equal((await b.inject({ method: 'DELETE', url: `/api/users/${bo.id}`, headers: admin.auth })).statusCode, 204)
  started = Date.now()
  for (;;) {
    const statuses = await Promise.all([a, b].map(async (node) => (await node.inject({ url: '/api/videos', headers: bo.auth })).statusCode))
    if (statuses.every((s) => s === 401)) break
    if (Date.now() - started > 2000) throw new Error(`still accepted after 2 s: ${statuses.join()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.ok(Date.now() - started <= 1200, `refused on both nodes after ${Date.now() - started} ms`)
  const gone = await a.inject({ url: '/api/auth/me', headers: bo.auth })
  t.match(gone.json().message, /no longer exists/)
  t.equal((await a.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: refresh } })).statusCode, 401, 'and its refresh tokens')
}

t.test('without Redis: a deleted account and a role change count on every node within a second', async (t) => {
  const [a, b] = await twoNodes(t)
  await deletionAndRoleChange(t, a, b)
})

t.test('with Redis: the same, account states shared through Redis', async (t) => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const [a, b] = await twoNodes(t, { REDIS_URL: redis.url })
  await deletionAndRoleChange(t, a, b)
})
