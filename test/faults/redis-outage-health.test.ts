import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'
import { byteLadder, call, listen, until } from './fault-client.js'
import { publishVideo } from '../delivery/fixtures.js'

// Redis killed and started again (empty) under one Lectern: segments keep playing from memory and
// storage, and /health/ready says what happened meanwhile: an outage going on, then its end.

t.test('Redis away and back: /health/ready reports the outage while it lasts and after', async (t) => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const { app } = await buildTestApp(t, { REDIS_URL: redis.url })
  const base = await listen(app)
  const ladder = byteLadder()
  const { video } = await publishVideo(app, ladder)
  const seg = (n: number) => `/hls/${video._id}/360p/segment-0000${n}.ts`
  t.equal((await call(base, seg(0))).status, 200)
  const before = await call(base, '/health/ready')
  t.equal(before.json?.dependencies.cacheRedis, 'ok')

  await redis.kill()

  t.ok(await until(async () => (await call(base, '/health/ready')).json?.dependencies.cacheRedis === 'down', 10_000), 'the tier is reported down')
  const during = await call(base, '/health/ready')
  t.equal(during.status, 503)
  const open = during.json?.outages.cacheRedis[0]
  t.equal(open?.to, null, `an outage going on (${JSON.stringify(open)})`)
  t.match(open?.error, /connection (lost|refused|reset)|did not answer/)
  for (const n of [0, 1]) {
    const res = await call(base, seg(n))
    t.equal(res.status, 200, `segment ${n} plays without Redis`)
    t.ok(res.body.equals(ladder.get(`360p/segment-0000${n}.ts`)!))
  }

  await redis.restart()

  t.ok(await until(async () => (await call(base, '/health/ready')).status === 200, 20_000), 'ready again once Redis is back, without a restart')
  const after = await call(base, '/health/ready')
  const ended = after.json?.outages.cacheRedis[0]
  t.ok(typeof ended?.to === 'string' && ended.to >= ended.from, `the outage is reported with its end (${JSON.stringify(ended)})`)
  t.equal(after.json?.outages.storage.length, 0, 'and nothing for storage')
})
