import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { requireMongoServer } from '../helpers/ferretdb-server.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { parseExposition, sum } from '../metrics/scrape.js'
import { loadWhile, twoNodesBehindNginx } from './two-nodes.js'

// Redis (the shared L2 cache, sessions and rate limits) SIGKILLed under load and started again:
// no request fails, and each node's metrics show the outage and the recovery by themselves.

requireToolsForFile(t, 'ffmpeg', 'nginx')

t.test('Redis killed under load and started again: no failed request; the L2 tier comes back by itself', { timeout: 180_000 }, async (t) => {
  if (!requireMongoServer(t) || !requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const { lb, ports, children } = await twoNodesBehindNginx(t, { REDIS_URL: redis.url })
  const metrics = async (port: number) => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
  const before = await Promise.all(ports.map(metrics))
  for (const m of before) t.equal(sum(m, 'lectern_cache_tier_state', { tier: 'redis', state: 'ok' }), 1, 'Redis is up at first')

  let down: Awaited<ReturnType<typeof metrics>>[] = []
  const run = await loadWhile(lb, 8, 12, 3, async () => {
    await redis.kill()
    await sleep(2000)
    down = await Promise.all(ports.map(metrics))
    await redis.restart()
  }, children)
  t.equal(run.code, 0, 'the load test ran to its end', { stderr: run.stderr.slice(-2000) })
  t.comment(run.report)
  t.match(run.result, { viewers: 8, errors: 0, stalledViewers: 0 }, `${run.result?.requests} requests, none failed, no viewer stalled`)
  for (const m of down) t.equal(sum(m, 'lectern_cache_tier_state', { tier: 'redis', state: 'down' }), 1, 'a scrape while Redis is away says so')

  for (const port of ports) {
    let state = 0
    for (let i = 0; i < 100 && state !== 1; i++) {
      state = sum(await metrics(port), 'lectern_cache_tier_state', { tier: 'redis', state: 'ok' })
      if (state !== 1) await sleep(200)
    }
    t.equal(state, 1, `node ${port}: the L2 tier is back without a restart of Lectern`)
  }
})
