import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { LruCache } from '../../src/cache/lru-cache.js'
import { RedisTier, REDIS_KEY_PREFIX, type RedisTierOptions } from '../../src/cache/redis-tier.js'
import { TwoTierCache } from '../../src/cache/two-tier-cache.js'
import { captureLogger, type CapturedLine } from '../helpers/capture-logger.js'
import { requireRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.js'

/** An origin that counts its reads; optionally slow or failing. */
function origin (options: { delayMs?: number, fail?: Error } = {}) {
  const reads = new Map<string, number>()
  let total = 0
  return {
    get total () { return total },
    readsOf: (key: string) => reads.get(key) ?? 0,
    bytesOf: (key: string) => Buffer.from(`bytes of ${key}`),
    load (key: string) {
      return async () => {
        total++
        reads.set(key, (reads.get(key) ?? 0) + 1)
        if (options.delayMs !== undefined) await sleep(options.delayMs)
        if (options.fail !== undefined) throw options.fail
        return Buffer.from(`bytes of ${key}`)
      }
    }
  }
}

function memoryCache (maxBytes = 1 << 20) {
  return new TwoTierCache({ l1: new LruCache({ maxBytes }), defaultTtlSeconds: 60 })
}

interface Harness {
  cache: TwoTierCache
  tier: RedisTier
  lines: CapturedLine[]
}

async function redisCache (t: Test, url: string, options: Partial<RedisTierOptions> = {}, maxBytes = 1 << 20): Promise<Harness> {
  const { log, lines } = captureLogger()
  const tier = new RedisTier({ url, timeoutMs: 150, maxValueBytes: 1 << 20, log, logIntervalMs: 60_000, maxReconnectDelayMs: 200, ...options })
  const cache = new TwoTierCache({ l1: new LruCache({ maxBytes }), l2: tier, defaultTtlSeconds: 300 })
  t.teardown(() => cache.close())
  await tier.connect()
  return { cache, tier, lines }
}

function rawClient (t: Test, server: RedisServer): Redis {
  const raw = new Redis(server.url, { maxRetriesPerRequest: 1 })
  raw.on('error', () => {})
  t.teardown(() => { raw.disconnect() })
  return raw
}

t.test('memory only: a miss loads once, then reads are served from L1', async (t) => {
  const cache = memoryCache()
  const o = origin()
  const first = await cache.readThrough('videos/a/1/720p/s0.ts', o.load('videos/a/1/720p/s0.ts'))
  t.same(first, o.bytesOf('videos/a/1/720p/s0.ts'))
  const again = await cache.readThrough('videos/a/1/720p/s0.ts', o.load('videos/a/1/720p/s0.ts'))
  t.same(again, first)
  t.equal(cache.peek('videos/a/1/720p/s0.ts'), again, 'the same Buffer, from memory')
  t.equal(await cache.get('videos/a/1/720p/s0.ts'), again)
  t.equal(await cache.get('videos/a/1/720p/other.ts'), undefined)
  t.equal(o.total, 1)
  const stats = cache.stats()
  t.equal(stats.originReads, 1)
  t.equal(stats.l1Hits, 3)
  t.equal(stats.l1Misses, 2, 'the first read-through and the get of another key')
  t.equal(cache.peek('never/stored'), undefined)
  t.equal(cache.stats().l1Misses, 2, 'a peek alone is not a miss: the read-through that follows it counts one')
  t.equal(stats.l1Entries, 1)
  t.equal(stats.l1Bytes, first.length)
  t.same(await cache.probe(), { memory: 'ok', redis: 'disabled' })
})

t.test('memory only: 50 concurrent misses for one key make exactly one origin read', async (t) => {
  const cache = memoryCache()
  const o = origin({ delayMs: 20 })
  const results = await Promise.all(Array.from({ length: 50 }, () => cache.readThrough('k', o.load('k'))))
  t.equal(o.total, 1)
  for (const r of results) t.equal(r, results[0])
  t.equal(cache.stats().sharedLoads, 49)
  t.equal(cache.stats().inFlight, 0, 'the in-flight entry is gone once resolved')
})

t.test('memory only: an origin error reaches every waiter and nothing is cached', async (t) => {
  const cache = memoryCache()
  const failing = origin({ delayMs: 20, fail: new Error('storage said no') })
  const settled = await Promise.allSettled(Array.from({ length: 50 }, () => cache.readThrough('k', failing.load('k'))))
  t.equal(failing.total, 1)
  t.ok(settled.every((s) => s.status === 'rejected' && (s.reason as Error).message === 'storage said no'), 'all 50 rejected with the origin error')
  t.equal(cache.peek('k'), undefined)
  t.equal(cache.stats().inFlight, 0, 'the in-flight entry is gone once rejected')
  t.equal(cache.stats().originErrors, 1)
  const ok = origin()
  t.same(await cache.readThrough('k', ok.load('k')), ok.bytesOf('k'), 'the next read tries origin again')
  t.equal(ok.total, 1)
})

t.test('memory only: a load that does not yield a Buffer is an error, not a cached value', async (t) => {
  const cache = memoryCache()
  await t.rejects(cache.readThrough('k', async () => 'text' as unknown as Buffer), TypeError)
  t.equal(cache.peek('k'), undefined)
})

t.test('a TTL Redis would refuse is an error of the caller, not a silent skip of L2', async (t) => {
  const cache = memoryCache()
  let loads = 0
  const load = async () => { loads++; return Buffer.from('v') }
  await t.rejects(cache.readThrough('k', load, { ttlSeconds: 0 }), RangeError)
  await t.rejects(cache.readThrough('k', load, { ttlSeconds: 1.5 }), RangeError)
  await t.rejects(cache.set('k', Buffer.from('v'), { ttlSeconds: -1 }), RangeError)
  t.equal(loads, 0)
  t.throws(() => new TwoTierCache({ l1: new LruCache({ maxBytes: 10 }), defaultTtlSeconds: 0 }), RangeError)
})

t.test('a key deleted while it loads is not cached by that load', async (t) => {
  const cache = memoryCache()
  const slow = origin({ delayMs: 50 })
  const pending = cache.readThrough('videos/x/1/s0.ts', slow.load('videos/x/1/s0.ts'))
  const pendingOther = cache.readThrough('videos/y/1/s0.ts', slow.load('videos/y/1/s0.ts'))
  await sleep(5)
  await cache.deletePrefix('videos/x/')
  t.same(await pending, slow.bytesOf('videos/x/1/s0.ts'), 'the waiter still gets its bytes')
  await pendingOther
  t.equal(cache.peek('videos/x/1/s0.ts'), undefined, 'but they were not cached')
  t.ok(cache.peek('videos/y/1/s0.ts'), 'other prefixes are cached as usual')

  const again = cache.readThrough('k', slow.load('k'))
  await sleep(5)
  await cache.delete('k')
  const fresh = origin()
  t.same(await cache.readThrough('k', fresh.load('k')), fresh.bytesOf('k'))
  t.equal(fresh.total, 1, 'a read after delete does not join the stale load')
  await again
})

t.test('with Redis', async (t) => {
  if (!requireRedisServer(t)) return
  const server = await startRedisServer(t)
  const raw = rawClient(t, server)

  t.test('read-through fills L2 from origin, and another node then reads L2 without origin', async (t) => {
    const a = await redisCache(t, server.url)
    const b = await redisCache(t, server.url)
    const o = origin()
    const key = 'videos/v1/1/720p/segment-00000.ts'
    t.same(await a.cache.readThrough(key, o.load(key)), o.bytesOf(key))
    await a.cache.flush()
    t.same(await raw.getBuffer(REDIS_KEY_PREFIX + key), o.bytesOf(key), 'stored in Redis under the namespace')

    const never = async (): Promise<Buffer> => { throw new Error('origin must not be read') }
    t.same(await b.cache.readThrough(key, never), o.bytesOf(key))
    t.same(b.cache.peek(key), o.bytesOf(key), 'the L2 hit filled L1 of the second node')
    t.equal(b.cache.stats().l2Hits, 1)
    t.equal(b.cache.stats().originReads, 0)
    t.equal(o.total, 1)

    // get() also goes L1 -> L2.
    const c = await redisCache(t, server.url)
    t.same(await c.cache.get(key), o.bytesOf(key))
    t.same(c.cache.peek(key), o.bytesOf(key))
    t.equal(await c.cache.get('videos/v1/1/missing'), undefined)
    t.equal(c.cache.stats().l2Misses, 1)
  })

  t.test('50 concurrent misses make exactly one L2 lookup and one origin read', async (t) => {
    const { cache } = await redisCache(t, server.url)
    const o = origin({ delayMs: 20 })
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.readThrough('sf', o.load('sf'))))
    t.equal(o.total, 1)
    t.ok(results.every((r) => r.equals(o.bytesOf('sf'))))
    t.equal(cache.stats().l2Misses, 1)
    t.equal(cache.stats().inFlight, 0)
  })

  t.test('an origin error reaches all 50 waiters and nothing reaches Redis', async (t) => {
    const { cache } = await redisCache(t, server.url)
    const failing = origin({ delayMs: 20, fail: new Error('gone') })
    const settled = await Promise.allSettled(Array.from({ length: 50 }, () => cache.readThrough('err', failing.load('err'))))
    t.equal(failing.total, 1)
    t.equal(settled.filter((s) => s.status === 'rejected').length, 50)
    await cache.flush()
    t.equal(await raw.exists(REDIS_KEY_PREFIX + 'err'), 0)
    t.equal(cache.peek('err'), undefined)
  })

  t.test('arbitrary bytes, including invalid UTF-8, round-trip through Redis unchanged', async (t) => {
    const a = await redisCache(t, server.url)
    const b = await redisCache(t, server.url)
    const values = [
      randomBytes(256 * 1024),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0x28, 0x00, 0x0d, 0x0a]),
      Buffer.alloc(0),
      Buffer.from('\r\n$-1\r\n*2\r\n', 'latin1')
    ]
    for (const [i, value] of values.entries()) {
      await a.cache.readThrough(`bin/${i}`, async () => value)
    }
    await a.cache.flush()
    for (const [i, value] of values.entries()) {
      const got = await b.cache.readThrough(`bin/${i}`, async () => { throw new Error('not from origin') })
      t.ok(got.equals(value), `value ${i} (${value.length} bytes) is byte-identical`)
    }
  })

  t.test('values above the Redis size limit stay out of Redis but are still served and kept in L1', async (t) => {
    const { cache } = await redisCache(t, server.url, { maxValueBytes: 1000 })
    const small = Buffer.alloc(1000, 1)
    const big = Buffer.alloc(1001, 2)
    await cache.readThrough('size/small', async () => small)
    t.same(await cache.readThrough('size/big', async () => big), big)
    await cache.set('size/big-set', big)
    await cache.flush()
    t.equal(await raw.exists(REDIS_KEY_PREFIX + 'size/small'), 1)
    t.equal(await raw.exists(REDIS_KEY_PREFIX + 'size/big'), 0)
    t.equal(await raw.exists(REDIS_KEY_PREFIX + 'size/big-set'), 0)
    t.ok(cache.peek('size/big'))
  })

  t.test('values are written with the TTL asked for, or the default', async (t) => {
    const { cache } = await redisCache(t, server.url)
    await cache.readThrough('ttl/a', async () => Buffer.from('a'), { ttlSeconds: 42 })
    await cache.readThrough('ttl/b', async () => Buffer.from('b'))
    await cache.set('ttl/c', Buffer.from('c'), { ttlSeconds: 7 })
    await cache.flush()
    const ttlA = await raw.ttl(REDIS_KEY_PREFIX + 'ttl/a')
    const ttlB = await raw.ttl(REDIS_KEY_PREFIX + 'ttl/b')
    const ttlC = await raw.ttl(REDIS_KEY_PREFIX + 'ttl/c')
    t.ok(ttlA > 0 && ttlA <= 42, `ttl/a expires in ${ttlA}s`)
    t.ok(ttlB > 42 && ttlB <= 300, `ttl/b expires in ${ttlB}s (default 300)`)
    t.ok(ttlC > 0 && ttlC <= 7, `ttl/c expires in ${ttlC}s`)
  })

  t.test('delete and deletePrefix clear both tiers, and only what they name', async (t) => {
    const a = await redisCache(t, server.url)
    const keys = ['videos/del/1/a.ts', 'videos/del/1/b.ts', 'videos/del*/1/c.ts', 'videos/delx/1/a.ts', 'videos/keep/1/a.ts']
    for (const key of keys) await a.cache.set(key, Buffer.from(key))
    await a.cache.deletePrefix('videos/del/')
    for (const key of keys.slice(0, 2)) {
      t.equal(a.cache.peek(key), undefined, `${key} gone from L1`)
      t.equal(await raw.exists(REDIS_KEY_PREFIX + key), 0, `${key} gone from L2`)
    }
    for (const key of keys.slice(2)) {
      t.equal(await raw.exists(REDIS_KEY_PREFIX + key), 1, `${key} kept in L2 (glob characters in keys are literal)`)
    }
    await a.cache.delete('videos/keep/1/a.ts')
    t.equal(await raw.exists(REDIS_KEY_PREFIX + 'videos/keep/1/a.ts'), 0)
    t.equal(a.cache.peek('videos/keep/1/a.ts'), undefined)

    // Enough keys to need several SCAN rounds.
    const many = Array.from({ length: 2500 }, (_, i) => `videos/many/1/s${i}.ts`)
    await Promise.all(many.map((key) => a.tier.set(key, Buffer.from('x'), 60)))
    t.equal(await a.tier.deletePrefix('videos/many/'), 2500)
    t.same(await raw.keys(REDIS_KEY_PREFIX + 'videos/many/*'), [])
  })

  t.test('Redis paused: reads are answered from origin while Redis is still silent', async (t) => {
    const { cache } = await redisCache(t, server.url, { timeoutMs: 100 })
    const o = origin()
    const marker = rawClient(t, server)
    await marker.ping()
    await raw.client('PAUSE', 3000, 'ALL')
    let redisAnswered = false
    const markerPing = marker.ping().then(() => { redisAnswered = true })
    const keys = Array.from({ length: 20 }, (_, i) => `paused/${i}`)
    const got = await Promise.all(keys.map((key) => cache.readThrough(key, o.load(key))))
    t.equal(redisAnswered, false, 'every read finished while Redis was still paused')
    t.ok(got.every((value, i) => value.equals(o.bytesOf(keys[i]!))))
    t.equal(o.total, 20)
    t.ok(cache.stats().l2Errors >= 20, `the L2 lookups timed out (${cache.stats().l2Errors} errors)`)
    t.equal((await cache.probe()).redis, 'down', 'a Redis that does not answer PING in time is down')
    t.equal(redisAnswered, false, 'still within the pause')
    await raw.client('UNPAUSE')
    await markerPing
    t.equal(await cache.probe().then((p) => p.redis), 'ok', 'and the tier carries on once Redis answers again')
  })

  t.test('Redis killed mid-run: every read succeeds from origin, probe says down, then the tier recovers', async (t) => {
    const { cache, tier, lines } = await redisCache(t, server.url)
    const o = origin()
    t.same(await cache.probe(), { memory: 'ok', redis: 'ok' })

    let n = 0
    let failures = 0
    let running = true
    const reader = (async () => {
      while (running) {
        const key = `kill/${n++}`
        try {
          const value = await cache.readThrough(key, o.load(key))
          if (!value.equals(o.bytesOf(key))) failures++
        } catch {
          failures++
        }
        await sleep(1)
      }
    })()

    await sleep(100)
    const beforeKill = n
    await server.kill()
    await sleep(300)
    const atProbe = n
    t.equal((await cache.probe()).redis, 'down', 'probe reports Redis down')
    await sleep(100)
    running = false
    await reader
    t.ok(beforeKill > 0 && n > atProbe, `reads went on before (${beforeKill}) and after (${n - atProbe}) the kill`)
    t.equal(failures, 0, `all ${n} reads returned the origin bytes`)
    t.equal(o.total, n, 'each from origin')
    t.ok(tier.errors > 0)
    const warnings = lines.filter((l) => l.msg.startsWith('redis cache tier unavailable'))
    t.equal(warnings.length, 1, `one log line for ${tier.errors} failed commands and every reconnect attempt`)

    await server.restart()
    const deadline = Date.now() + 15_000
    let status = await cache.probe()
    while (status.redis !== 'ok' && Date.now() < deadline) {
      await sleep(100)
      status = await cache.probe()
    }
    t.same(status, { memory: 'ok', redis: 'ok' }, 'probe ok after Redis came back')
    t.ok(lines.some((l) => l.msg === 'redis cache tier reconnected'))

    await cache.readThrough('after/restart', async () => Buffer.from('back'))
    await cache.flush()
    t.same(await tier.get('after/restart'), Buffer.from('back'), 'the restarted Redis is written to again')
  })
})
t.test('onL1Remove reports values L1 drops, read through or deleted', async (t) => {
  const cache = new TwoTierCache({ l1: new LruCache({ maxBytes: 800, maxEntryBytes: 400 }), defaultTtlSeconds: 60 })
  t.teardown(() => cache.close())
  const removed: string[] = []
  cache.onL1Remove((key) => removed.push(key))
  const loaded: Buffer[] = []
  for (const key of ['a', 'b', 'c']) {
    loaded.push(await cache.readThrough(key, async () => Buffer.alloc(300, key)))
  }
  t.same(removed, ['a'], 'the third value evicted the first')
  await cache.delete('b')
  t.same(removed, ['a', 'b'])
  t.equal(cache.peek('c'), loaded[2], 'what is still stored is the loaded Buffer itself')
  await cache.close()
  t.same(removed, ['a', 'b', 'c'], 'closing empties L1')
})
