import t from 'tap'
import { join } from 'node:path'
import { buildTestApp } from './helpers/app.js'
import { tempDir } from './helpers/config.js'
import { requireMongoServer, startMongoServer } from './helpers/ferretdb-server.js'
import { FsObjectStore } from '../src/storage/fs-object-store.js'
import type { ObjectStore } from '../src/storage/object-store.js'

t.test('liveness and readiness on embedded defaults', async (t) => {
  const { app } = await buildTestApp(t)
  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 200)
  t.equal(live.json().status, 'ok')
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200, ready.body)
  t.same(ready.json().status, 'ok')
  t.same(ready.json().dependencies, { storage: 'ok', database: 'ok', cacheMemory: 'ok', cacheRedis: 'disabled', transcoder: 'disabled' })
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


t.test('readiness is 503 when a probe hangs: the probe is given up on, not waited for', async (t) => {
  const fs = await FsObjectStore.open({ root: join(await tempDir(t), 'objects') })
  t.teardown(() => fs.close())
  const hanging = new Proxy(fs, {
    get (target, property) {
      if (property === 'probe') return () => new Promise(() => {})
      const value = Reflect.get(target, property, target) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    }
  }) as ObjectStore
  const { app } = await buildTestApp(t, {}, { storage: hanging })
  const started = Date.now()
  const ready = await app.inject('/health/ready')
  const took = Date.now() - started
  t.equal(ready.statusCode, 503)
  t.same(ready.json().dependencies, { storage: 'down', database: 'ok', cacheMemory: 'ok', cacheRedis: 'disabled', transcoder: 'disabled' })
  t.ok(took >= 1500 && took < 5000, `answered after the probe timeout (${took} ms), not never`)
})

t.test('readiness is 503 when the database is down', async (t) => {
  if (!requireMongoServer(t)) return
  const server = await startMongoServer(t)
  if (server.source !== 'ferretdb') {
    t.comment('MONGODB_URL is given: this test needs a server it may stop')
    return
  }
  const { app } = await buildTestApp(t, { MONGODB_URL: server.freshUrl() })
  t.equal(app.db.kind, 'mongodb')
  const up = await app.inject('/health/ready')
  t.equal(up.statusCode, 200, up.body)
  await server.stop()
  const down = await app.inject('/health/ready')
  t.equal(down.statusCode, 503)
  t.equal(down.json().status, 'down')
  t.same(down.json().dependencies, { storage: 'ok', database: 'down', cacheMemory: 'ok', cacheRedis: 'disabled', transcoder: 'disabled' })
})
