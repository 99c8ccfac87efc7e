import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { fakeVideo, multipartBody } from '../plugins/multipart-body.js'

// REGISTRATION=open|invite|closed, invitations, accounts made by an admin, and the roles admin,
// teacher and student, with the role of a new account set by DEFAULT_ROLE.

const PASSWORD = 'correct horse battery'
let n = 0
async function register (app: FastifyInstance, extra: Record<string, string> = {}) {
  const email = `person-${++n}@example.org`
  const res = await app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: `10.7.0.${n}`, payload: { email, password: PASSWORD, name: `P${n}`, ...extra } })
  const auth: Record<string, string> = res.statusCode === 201 ? { authorization: `Bearer ${res.json().token as string}` } : {}
  return { res, email, auth }
}

async function upload (app: FastifyInstance, auth: Record<string, string>) {
  const { payload, headers } = multipartBody([{ name: 'title', value: 'A lecture' }, { name: 'file', filename: 'a.mp4', content: fakeVideo() }])
  return await app.inject({ method: 'POST', url: '/api/videos', headers: { ...headers, ...auth }, payload })
}

t.test('open (the default): anyone registers and gets DEFAULT_ROLE; students watch but do not upload', async (t) => {
  const { app } = await buildTestApp(t, { DEFAULT_ROLE: 'student' })
  const admin = await register(app)
  t.equal(admin.res.json().user.role, 'admin', 'the first account is the admin')
  const student = await register(app)
  t.equal(student.res.statusCode, 201)
  t.equal(student.res.json().user.role, 'student')
  const refused = await upload(app, student.auth)
  t.equal(refused.statusCode, 403)
  t.match(refused.json().message, /needs the admin or teacher role; your account is a student/)
  const tus = await app.inject({ method: 'POST', url: '/api/uploads', headers: { ...student.auth, 'tus-resumable': '1.0.0', 'upload-length': '1000' } })
  t.equal(tus.statusCode, 403, 'nor by tus')
  t.equal((await app.inject({ url: '/api/search?q=x', headers: student.auth })).statusCode, 200, 'a student searches')
  t.equal((await upload(app, admin.auth)).statusCode, 202, 'an admin uploads')

  // The admin makes the student a teacher: in effect on the student's next request, same token.
  const list = (await app.inject({ url: '/api/users', headers: admin.auth })).json()
  t.same(list.items.map((u: { role: string }) => u.role), ['admin', 'student'])
  const id = student.res.json().user.id as string
  const changed = await app.inject({ method: 'PATCH', url: `/api/users/${id}`, headers: admin.auth, payload: { role: 'teacher' } })
  t.equal(changed.json().user.role, 'teacher')
  t.equal((await upload(app, student.auth)).statusCode, 202, 'now a teacher uploads')
  t.equal((await app.inject({ url: '/api/auth/me', headers: student.auth })).json().user.role, 'teacher')

  // Only admins manage accounts, and an admin cannot demote themselves.
  t.equal((await app.inject({ method: 'PATCH', url: `/api/users/${id}`, headers: student.auth, payload: { role: 'admin' } })).statusCode, 403)
  t.equal((await app.inject({ url: '/api/users', headers: student.auth })).statusCode, 403)
  const self = await app.inject({ method: 'PATCH', url: `/api/users/${admin.res.json().user.id as string}`, headers: admin.auth, payload: { role: 'teacher' } })
  t.equal(self.statusCode, 403)
  t.match(self.json().message, /another admin/)
  const bad = await app.inject({ method: 'PATCH', url: `/api/users/${id}`, headers: admin.auth, payload: { role: 'user' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json().message, /admin, teacher or student/)
})

t.test('invite: registering needs an invitation (single use, expires); the first account needs none', async (t) => {
  const { app } = await buildTestApp(t, { REGISTRATION: 'invite' })
  const admin = await register(app)
  t.equal(admin.res.statusCode, 201, 'the first account of a new installation registers without one')
  const uninvited = await register(app)
  t.equal(uninvited.res.statusCode, 403)
  t.match(uninvited.res.json().message, /needs an invitation/)

  const made = await app.inject({ method: 'POST', url: '/api/invitations', headers: admin.auth, payload: { role: 'student', note: 'Ann, year 2' } })
  t.equal(made.statusCode, 201)
  const { code, url, invitation } = made.json()
  t.equal(url, `/?invite=${code as string}`)
  t.equal(invitation.role, 'student')
  t.ok(Date.parse(invitation.expiresAt) > Date.now() + 7 * 24 * 3600_000 - 60_000, 'valid for INVITATION_TTL_HOURS (a week)')

  const invited = await register(app, { invite: code })
  t.equal(invited.res.statusCode, 201)
  t.equal(invited.res.json().user.role, 'student', 'the invitation\'s role')
  const again = await register(app, { invite: code })
  t.equal(again.res.statusCode, 403, 'single use')
  t.match(again.res.json().message, /unknown, already used or expired/)
  const listed = (await app.inject({ url: '/api/invitations', headers: admin.auth })).json().items
  t.equal(listed[0].usedBy, invited.res.json().user.id)
  t.notOk(JSON.stringify(listed).includes(code), 'codes are not kept')

  // A registration that fails (the email is taken) gives the invitation back.
  const second = (await app.inject({ method: 'POST', url: '/api/invitations', headers: admin.auth, payload: { role: 'teacher' } })).json().code as string
  const dup = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: invited.email, password: PASSWORD, name: 'Dup', invite: second } })
  t.equal(dup.statusCode, 409)
  const ok = await register(app, { invite: second })
  t.equal(ok.res.statusCode, 201)
  t.equal(ok.res.json().user.role, 'teacher')

  // Expired (its expiry moved into the past in the store), and withdrawn.
  const shortLived = (await app.inject({ method: 'POST', url: '/api/invitations', headers: admin.auth, payload: { expiresInHours: 1 } })).json()
  await app.db.collection('invitations').updateOne({ _id: shortLived.invitation.id }, { $set: { expiresAt: new Date(Date.now() - 1000) } })
  const late = await register(app, { invite: shortLived.code })
  t.equal(late.res.statusCode, 403, 'an expired invitation is refused')
  const withdrawn = (await app.inject({ method: 'POST', url: '/api/invitations', headers: admin.auth })).json()
  t.equal((await app.inject({ method: 'DELETE', url: `/api/invitations/${withdrawn.invitation.id as string}`, headers: admin.auth })).statusCode, 204)
  t.equal((await register(app, { invite: withdrawn.code })).res.statusCode, 403, 'a withdrawn invitation is refused')
  t.equal((await app.inject({ method: 'POST', url: '/api/invitations', headers: invited.auth })).statusCode, 403, 'only admins invite')
})

t.test('closed: nobody registers; an admin creates accounts', async (t) => {
  const { app } = await buildTestApp(t, { REGISTRATION: 'closed' })
  const admin = await register(app)
  t.equal(admin.res.statusCode, 201, 'the first account still can (it becomes the admin)')
  const refused = await register(app)
  t.equal(refused.res.statusCode, 403)
  t.match(refused.res.json().message, /registration is closed.*ask an admin/)
  const created = await app.inject({ method: 'POST', url: '/api/users', headers: admin.auth, payload: { email: 'Teach@Example.org', password: PASSWORD, name: 'Teach', role: 'teacher' } })
  t.equal(created.statusCode, 201)
  t.equal(created.json().user.role, 'teacher')
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'teach@example.org', password: PASSWORD } })
  t.equal(login.statusCode, 200, 'the account signs in')
  t.equal((await app.inject({ method: 'POST', url: '/api/users', headers: admin.auth, payload: { email: 'teach@example.org', password: PASSWORD, name: 'Again' } })).statusCode, 409)
  const defaulted = await app.inject({ method: 'POST', url: '/api/users', headers: admin.auth, payload: { email: 's@example.org', password: PASSWORD, name: 'S' } })
  t.equal(defaulted.json().user.role, 'teacher', 'DEFAULT_ROLE when none is given')

  // An account may delete itself; the last admin may not.
  const teach = { authorization: `Bearer ${login.json().token as string}` }
  t.equal((await app.inject({ method: 'DELETE', url: `/api/users/${defaulted.json().user.id as string}`, headers: teach })).statusCode, 403, 'not someone else\'s')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/users/${created.json().user.id as string}`, headers: teach })).statusCode, 204, 'its own')
  const last = await app.inject({ method: 'DELETE', url: `/api/users/${admin.res.json().user.id as string}`, headers: admin.auth })
  t.equal(last.statusCode, 403)
  t.match(last.json().message, /last admin/)
})

t.test('a bad REGISTRATION or DEFAULT_ROLE stops start-up with one line', async (t) => {
  const { loadConfig } = await import('../../src/config.js')
  t.throws(() => loadConfig({ REGISTRATION: 'sometimes' }), /^REGISTRATION: must be open, invite or closed/)
  t.throws(() => loadConfig({ DEFAULT_ROLE: 'admin' }), /^DEFAULT_ROLE: must be teacher or student/)
})
