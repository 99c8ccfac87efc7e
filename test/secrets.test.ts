import t from 'tap'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { buildApp } from '../src/app.js'
import { testConfig } from './helpers/config.js'

// Without JWT_SECRET, Lectern generates a secret once into DATA_DIR/jwt-secret: a restart (a new
// process on the same DATA_DIR) reads it back, so the tokens it issued stay valid.

t.test('the generated DATA_DIR/jwt-secret survives a restart, and the tokens issued before it stay valid', async (t) => {
  const config = await testConfig(t)
  t.equal(config.jwtSecret, undefined, 'no JWT_SECRET')
  const first = await buildApp(config, { logger: false })
  const reg = await first.inject({ method: 'POST', url: '/api/auth/register', payload: { email: 'kept@example.org', password: 'correct horse battery', name: 'Kept' } })
  t.equal(reg.statusCode, 201)
  const { token } = reg.json() as { token: string }
  await first.close()

  const file = join(config.dataDir, 'jwt-secret')
  const secret = (await readFile(file, 'utf8')).trim()
  t.ok(secret.length >= 32, `a secret of ${secret.length} characters was written`)
  t.equal((await stat(file)).mode & 0o777, 0o600, 'readable by its owner only')

  const second = await buildApp(config, { logger: false })
  t.teardown(() => second.close())
  const me = await second.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200, 'an access token from before the restart is accepted')
  t.equal(me.json().user.email, 'kept@example.org')
  t.equal((await readFile(file, 'utf8')).trim(), secret, 'the same secret, not a new one')
})

t.test('another DATA_DIR has another secret: its tokens are refused', async (t) => {
  const a = await buildApp(await testConfig(t), { logger: false })
  t.teardown(() => a.close())
  const b = await buildApp(await testConfig(t), { logger: false })
  t.teardown(() => b.close())
  const reg = await a.inject({ method: 'POST', url: '/api/auth/register', payload: { email: 'a@example.org', password: 'correct horse battery', name: 'A' } })
  const me = await b.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${reg.json().token as string}` } })
  t.equal(me.statusCode, 401, 'a token signed with a different generated secret is refused')
})
