import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'
import { RedisLocker } from '../../src/uploads/redis-locker.js'

// The tus lock shared by API nodes: each "node" here is a RedisLocker with its own connections.

async function node (t: Test, url: string, options: { ttlMs?: number, acquireTimeoutMs?: number } = {}): Promise<{ locker: RedisLocker, redis: Redis }> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 })
  const subscriber = new Redis(url, { maxRetriesPerRequest: 1 })
  t.teardown(() => { redis.disconnect(); subscriber.disconnect() })
  return { locker: new RedisLocker({ redis, subscriber, prefix: 'test:lock:', ...options }), redis }
}

t.test('redis locker', async (t) => {
  if (!requireRedisServer(t)) return
  const server = await startRedisServer(t)

  t.test('one holder at a time across nodes; a waiter asks the holder to let go', async (t) => {
    const a = await node(t, server.url)
    const b = await node(t, server.url)
    const events: string[] = []
    const lockA = a.locker.newLock('u1')
    let releaseA: () => void = () => {}
    await lockA.lock(new AbortController().signal, () => {
      events.push('A asked to release')
      // As a PATCH does: it stops reading, stores what it has, then unlocks.
      releaseA()
    })
    events.push('A holds')
    const lockB = b.locker.newLock('u1')
    const asked = new Promise<void>((resolve) => { releaseA = resolve })
    const bGot = lockB.lock(new AbortController().signal, () => {}).then(() => { events.push('B holds') })
    await asked
    t.same(events, ['A holds', 'A asked to release'], 'B did not get the lock while A held it')
    await lockA.unlock()
    events.push('A released')
    await bGot
    t.same(events.slice(0, 3), ['A holds', 'A asked to release', 'A released'])
    t.equal(events[events.length - 1], 'B holds')
    await lockB.unlock()
    t.equal(await a.redis.exists('test:lock:u1'), 0, 'nothing is left in Redis')
  })

  t.test('the lock of a node that died frees itself when its TTL runs out', async (t) => {
    const dying = await node(t, server.url, { ttlMs: 600 })
    const other = await node(t, server.url, { ttlMs: 600, acquireTimeoutMs: 5000 })
    await dying.locker.newLock('u2').lock(new AbortController().signal, () => {})
    const lockedAt = Date.now()
    // The node is gone: nothing renews its lock and nobody answers the release request.
    dying.redis.disconnect()
    const lock = other.locker.newLock('u2')
    await lock.lock(new AbortController().signal, () => {})
    const after = Date.now() - lockedAt
    t.ok(after >= 550, `not before the dead node's TTL ran out (${after} ms after it locked)`)
    t.ok(after < 3000, 'but soon after')
    await lock.unlock()
  })

  t.test('a holder that lives keeps its lock past the TTL; a waiter gives up with 423', async (t) => {
    // Renewed every third of the TTL: alive, it outlasts several TTLs.
    const a = await node(t, server.url, { ttlMs: 900 })
    const b = await node(t, server.url, { ttlMs: 900, acquireTimeoutMs: 3000 })
    const held = a.locker.newLock('u3')
    await held.lock(new AbortController().signal, () => {})
    const refused = await b.locker.newLock('u3').lock(new AbortController().signal, () => {}).then(() => 'locked', (err: unknown) => err)
    t.match(refused, { status_code: 423 }, 'the waiter is told to try again later')
    await held.unlock()
  })

  t.test('a waiter whose request ends stops waiting', async (t) => {
    const a = await node(t, server.url)
    const b = await node(t, server.url)
    const held = a.locker.newLock('u4')
    await held.lock(new AbortController().signal, () => {})
    const ended = new AbortController()
    const waiting = b.locker.newLock('u4').lock(ended.signal, () => {})
    setTimeout(() => ended.abort(), 200)
    t.match(await waiting.then(() => 'locked', (err: unknown) => err), { status_code: 400 })
    await held.unlock()
  })
})
