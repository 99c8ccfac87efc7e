import t, { type Test } from 'tap'
import { SessionStore } from '../../src/abr/session-store.js'
import { requireRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { captureLogger } from '../helpers/capture-logger.js'

/** A Redis of the test's own and two nodes' stores on it. */
async function twoNodes (t: Test, timeoutMs: number): Promise<{ redis: RedisServer, a: SessionStore<{ n: number }>, b: SessionStore<{ n: number }> }> {
  const redis = await startRedisServer(t)
  const { log } = captureLogger()
  const a = new SessionStore<{ n: number }>({ redis: { url: redis.url, timeoutMs, log } })
  const b = new SessionStore<{ n: number }>({ redis: { url: redis.url, timeoutMs, log } })
  t.teardown(async () => { await a.close(); await b.close() })
  return { redis, a, b }
}

t.test('in process: values expire after inactivity and the oldest go first when full', async (t) => {
  const store = new SessionStore<{ n: number }>({ ttlSeconds: 0.05, maxEntries: 3 })
  t.equal(store.shared, false)
  for (let i = 0; i < 5; i++) await store.set(`k${i}`, { n: i })
  t.equal(store.size, 3, 'bounded')
  t.equal(store.peek('k0'), undefined, 'the oldest were dropped')
  t.same(await store.get('k4'), { n: 4 })
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.equal(store.peek('k4'), undefined, 'expired')
  t.equal(await store.probe(), 'disabled')
})

t.test('with Redis: a session begun on one node continues on another; Redis down falls back to the local copy', async (t) => {
  if (!requireRedisServer(t)) return
  const { redis, a, b } = await twoNodes(t, 200)
  t.equal(await a.probe(), 'ok')
  await a.set('s:1', { n: 1 })
  t.equal(b.peek('s:1'), undefined, 'node b has no copy of its own')
  t.same(await b.get('s:1'), { n: 1 }, 'but reads it from Redis')
  await b.set('s:1', { n: 2 })
  t.same(await a.get('s:1'), { n: 2 }, 'Redis is read first: the newer value from b wins over a\'s own copy')
  await redis.kill()
  t.same(await a.get('s:1'), { n: 2 }, 'Redis gone: this node\'s copy')
  await a.set('s:1', { n: 3 })
  t.same(await a.get('s:1'), { n: 3 }, 'writes go on locally')
})

t.test('with Redis: a write that another node overtook is refused, so the writer can read again', async (t) => {
  if (!requireRedisServer(t)) return
  const { redis, a, b } = await twoNodes(t, 500)
  t.same([await a.probe(), await b.probe()], ['ok', 'ok'], 'both connected')
  const absent = await a.getVersion('s:2')
  t.same([absent.value, absent.raw, absent.shared], [undefined, undefined, true], 'read: absent in Redis')
  await b.set('s:2', { n: 10 })
  t.equal(await a.setIfUnchanged('s:2', absent, { n: 1 }), false, 'b wrote it meanwhile: a\'s write is refused')
  t.same(await b.get('s:2'), { n: 10 }, 'and b\'s value stays')
  const read = await a.getVersion('s:2')
  t.same(read.value, { n: 10 })
  t.equal(await a.setIfUnchanged('s:2', read, { n: 11 }), true, 'read again: written')
  t.equal(await b.setIfUnchanged('s:2', read, { n: 12 }), false, 'a version someone wrote over is refused to anyone')
  t.same(await b.get('s:2'), { n: 11 })
  await redis.kill()
  const down = await a.getVersion('s:2')
  t.equal(down.shared, false, 'Redis gone: the version is this node\'s own')
  t.equal(await a.setIfUnchanged('s:2', down, { n: 13 }), true, 'and writes go on locally')
  t.same(await a.get('s:2'), { n: 13 })
})
