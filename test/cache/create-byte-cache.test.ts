import t from 'tap'
import { Redis } from 'ioredis'
import { createByteCache } from '../../src/cache/create-byte-cache.js'
import { captureLogger } from '../helpers/capture-logger.js'
import { testConfig } from '../helpers/config.js'
import { freePort, requireRedisServer, startRedisServer } from '../helpers/redis-server.js'

t.test('without REDIS_URL the cache is memory only, sized by CACHE_MEMORY_MB', async (t) => {
  const config = await testConfig(t, { CACHE_MEMORY_MB: '1' })
  const cache = createByteCache(config, captureLogger().log)
  t.teardown(() => cache.close())
  t.same(await cache.probe(), { memory: 'ok', redis: 'disabled' })
  // An eighth of 1 MiB is the largest entry kept.
  await cache.readThrough('small', async () => Buffer.alloc(128 * 1024))
  await cache.readThrough('large', async () => Buffer.alloc(128 * 1024 + 1))
  t.ok(cache.peek('small'))
  t.equal(cache.peek('large'), undefined)
  for (let i = 0; i < 20; i++) await cache.readThrough(`fill/${i}`, async () => Buffer.alloc(100 * 1024))
  t.ok(cache.stats().l1Bytes <= 1024 * 1024, 'bounded by the configured memory')
})

t.test('with REDIS_URL the second tier is Redis, configured from the environment', async (t) => {
  if (!requireRedisServer(t)) return
  const server = await startRedisServer(t)
  const config = await testConfig(t, { REDIS_URL: server.url, CACHE_REDIS_TTL_S: '123', CACHE_REDIS_MAX_VALUE_MB: '1' })
  const a = createByteCache(config, captureLogger().log)
  const b = createByteCache(config, captureLogger().log)
  t.teardown(() => Promise.all([a.close(), b.close()]))
  t.same(await a.probe(), { memory: 'ok', redis: 'ok' })
  t.same(await b.probe(), { memory: 'ok', redis: 'ok' })
  await a.set('shared', Buffer.from('from a'))
  t.same(await b.readThrough('shared', async () => { throw new Error('origin must not be read') }), Buffer.from('from a'))
  await a.set('big', Buffer.alloc(1024 * 1024 + 1))
  const raw = new Redis(server.url)
  t.teardown(() => raw.quit())
  const ttl = await raw.ttl('lectern:c:shared')
  t.ok(ttl > 100 && ttl <= 123, `TTL from CACHE_REDIS_TTL_S (${ttl}s)`)
  t.equal(await raw.exists('lectern:c:big'), 0, 'CACHE_REDIS_MAX_VALUE_MB is the L2 size limit')
})

t.test('an unreachable REDIS_URL never fails a read, and probe reports it down', async (t) => {
  const port = await freePort()
  const config = await testConfig(t, { REDIS_URL: `redis://127.0.0.1:${port}` })
  const { log, lines } = captureLogger()
  const cache = createByteCache(config, log)
  t.teardown(() => cache.close())
  for (let i = 0; i < 10; i++) {
    t.same(await cache.readThrough(`k${i}`, async () => Buffer.from(`v${i}`)), Buffer.from(`v${i}`))
  }
  t.same(await cache.probe(), { memory: 'ok', redis: 'down' })
  t.equal(cache.stats().originReads, 10)
  t.ok(lines.length >= 1 && lines.length <= 2, `logged, but not once per read (${lines.length} lines)`)
})
