import t from 'tap'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import cachePlugin from '../../src/cache/cache-plugin.js'
import { LruCache } from '../../src/cache/lru-cache.js'
import { TwoTierCache } from '../../src/cache/two-tier-cache.js'
import { testConfig } from '../helpers/config.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'

async function cacheConnections (raw: Redis): Promise<number> {
  const list = await raw.client('LIST') as string
  return list.split('\n').filter((line) => line.includes('name=lectern-cache')).length
}

t.test('the plugin builds the cache from config and closes its Redis connection with the app', async (t) => {
  if (!requireRedisServer(t)) return
  const server = await startRedisServer(t)
  const raw = new Redis(server.url)
  t.teardown(() => raw.quit())
  const config = await testConfig(t, { REDIS_URL: server.url })
  const app = Fastify({ logger: false })
  await app.register(cachePlugin, { config })
  await app.ready()
  t.same(await app.cache.probe(), { memory: 'ok', redis: 'ok' })
  await app.cache.set('k', Buffer.from('v'))
  t.same(await raw.getBuffer('lectern:c:k'), Buffer.from('v'))
  t.equal(await cacheConnections(raw), 1)
  await app.close()
  t.equal(await cacheConnections(raw), 0, 'no connection left after close')
})

t.test('a cache passed in is used as is and left open for its owner', async (t) => {
  const config = await testConfig(t)
  const cache = new TwoTierCache({ l1: new LruCache({ maxBytes: 1024 }), defaultTtlSeconds: 60 })
  const app = Fastify({ logger: false })
  await app.register(cachePlugin, { config, cache })
  await app.ready()
  t.equal(app.cache, cache)
  await app.close()
  t.same(await cache.probe(), { memory: 'ok', redis: 'disabled' }, 'not closed by the app')
  await cache.close()
  t.same(await cache.probe(), { memory: 'down', redis: 'disabled' })
})
