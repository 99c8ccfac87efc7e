import t from 'tap'
import { buildTestApp } from './helpers/app.js'

t.test('liveness and readiness on embedded defaults', async (t) => {
  const { app } = await buildTestApp(t)
  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 200)
  t.equal(live.json().status, 'ok')
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200, ready.body)
  t.same(ready.json().status, 'ok')
  t.same(ready.json().dependencies, { storage: 'ok', database: 'ok', cacheMemory: 'ok', cacheRedis: 'disabled' })
  t.equal(ready.headers['cache-control'], 'no-store')
})

t.test('readiness is 503 with per-dependency status when Redis is unreachable', async (t) => {
  // Port 1 on loopback: nothing listens, so the connection is refused at once.
  const { app } = await buildTestApp(t, { REDIS_URL: 'redis://127.0.0.1:1', CACHE_REDIS_TIMEOUT_MS: '100' })
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  const body = ready.json()
  t.equal(body.status, 'down')
  t.equal(body.dependencies.cacheRedis, 'down')
  t.equal(body.dependencies.storage, 'ok')
  t.equal(body.dependencies.database, 'ok')
})

