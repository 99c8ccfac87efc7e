import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { ByteCache } from './byte-cache.js'
import { LruCache } from './lru-cache.js'
import { RedisTier } from './redis-tier.js'
import { TwoTierCache } from './two-tier-cache.js'

/** The cache the config asks for: always the in-process LRU, plus Redis when REDIS_URL is set. */
export function createByteCache (config: Config, log: FastifyBaseLogger): ByteCache {
  const l1 = new LruCache({ maxBytes: config.cache.memoryBytes })
  let l2: RedisTier | undefined
  if (config.redisUrl !== undefined) {
    l2 = new RedisTier({
      url: config.redisUrl,
      timeoutMs: config.cache.redisTimeoutMs,
      maxValueBytes: config.cache.redisMaxValueBytes,
      log: log.child({ component: 'cache-redis' })
    })
    // Connect now so the first reads find Redis ready; a failure is logged by the tier, which
    // keeps reconnecting, and reads go to origin meanwhile.
    l2.connect().catch(() => {})
  }
  return new TwoTierCache({ l1, l2, defaultTtlSeconds: config.cache.redisTtlSeconds })
}
