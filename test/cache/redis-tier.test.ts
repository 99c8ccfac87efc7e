import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisTier } from '../../src/cache/redis-tier.js'
import { captureLogger } from '../helpers/capture-logger.js'
import { freePort, requireRedisServer, startRedisServer } from '../helpers/redis-server.js'

/** Resolves to 'late' if promise has not settled within ms; a generous bound, only to turn a hang into a clear failure. */
function within<T> (promise: Promise<T>, ms: number): Promise<T | 'late'> {
  return Promise.race([promise, sleep(ms, 'late' as const)])
}

t.test('a Redis that is not there costs no waiting: every call is a miss or a no-op at once', async (t) => {
  const port = await freePort()
  const { log, lines } = captureLogger()
  // A timeout far longer than the test: if calls queued for a connection, they would hang here.
  const logIntervalMs = 1000
  const tier = new RedisTier({ url: `redis://127.0.0.1:${port}`, timeoutMs: 60_000, maxValueBytes: 1024, log, probeTimeoutMs: 200, logIntervalMs })
  t.teardown(() => tier.close())
  const started = performance.now()
  await t.rejects(tier.connect())
  for (let i = 0; i < 100; i++) {
    t.equal(await within(tier.get(`k${i}`), 5000), undefined, `get ${i} is a miss`)
  }
  t.equal(await within(tier.set('k', Buffer.from('v'), 60), 5000), false)
  t.equal(await within(tier.deletePrefix('videos/'), 5000), -1)
  await tier.delete('k')
  t.equal(await tier.probe(), 'down')
  t.equal(tier.errors, 103)

  const warnings = () => lines.filter((l) => l.msg.startsWith('redis cache tier unavailable'))
  // One line per interval begun; on a loaded machine the calls above may span more than one.
  const intervals = 1 + Math.floor((performance.now() - started) / logIntervalMs)
  const logged = warnings().length
  t.ok(logged >= 1 && logged <= intervals, `${logged} line(s) for 103 failed calls in ${intervals} interval(s), not one per call`)
  await sleep(logIntervalMs + 50)
  await tier.get('after-interval')
  const later = warnings()
  t.equal(later.length, logged + 1, 'the next interval logs again')
  t.ok((later.at(-1)!.suppressed as number) > 0, `and counts what it did not log (${String(later.at(-1)!.suppressed)})`)
})

t.test('a tier that starts before Redis does connects once Redis is up', async (t) => {
  if (!requireRedisServer(t)) return
  const server = await startRedisServer(t)
  await server.kill()
  const { log, lines } = captureLogger()
  const tier = new RedisTier({ url: server.url, timeoutMs: 200, maxValueBytes: 1024, log, maxReconnectDelayMs: 100, probeTimeoutMs: 200 })
  t.teardown(() => tier.close())
  tier.connect().catch(() => {})
  t.equal(await tier.probe(), 'down')
  t.equal(await tier.get('k'), undefined)
  await server.restart()
  let status = await tier.probe()
  for (let i = 0; status !== 'ok' && i < 50; i++) status = await tier.probe()
  t.equal(status, 'ok')
  t.equal(await tier.set('k', Buffer.from('v'), 60), true)
  t.same(await tier.get('k'), Buffer.from('v'))
  t.ok(lines.some((l) => l.msg === 'redis cache tier reconnected'))
})

t.test('close is idempotent and leaves a tier that reports down', async (t) => {
  if (!requireRedisServer(t)) return
  const server = await startRedisServer(t)
  const tier = new RedisTier({ url: server.url, timeoutMs: 200, maxValueBytes: 1024, log: captureLogger().log })
  await tier.connect()
  t.equal(await tier.probe(), 'ok')
  await tier.close()
  await tier.close()
  t.equal(await tier.probe(), 'down')
  t.equal(await tier.get('k'), undefined)
})
