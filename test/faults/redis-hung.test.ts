import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'
import { publishVideo } from '../delivery/fixtures.js'
import { fakeVideo, multipartBody } from '../plugins/multipart-body.js'
import { Redis } from 'ioredis'
import { RedisLocker } from '../../src/uploads/redis-locker.js'
import { byteLadder, call, listen, signUp, until } from './fault-client.js'
import { SCHEDULING_MARGIN_MS, establishedTo, timedCall, type TimedAnswer } from './hung-dependency.js'

// Redis hung: redis-server SIGSTOPped under one Lectern on a real socket (Redis is the second
// cache tier, the sign-in rate limit, the account states and the upload locks). Redis fails
// open: no request fails while it hangs, each is at most slower by the bounded Redis timeouts,
// and nothing piles up. After SIGCONT the tier is used again without a restart.

/** CACHE_REDIS_TIMEOUT_MS (its default): a cache read slower than this is a miss. */
const CACHE_TIMEOUT_MS = 150
/**
 * The most a request waits on Redis: a few calls in a row (the account state read, the sign-in
 * rate limit, a cache read, an upload lock), each bounded by its timeout (at most 2 s), plus slack.
 */
const BOUND_MS = 2 * 2000 + SCHEDULING_MARGIN_MS

const b64 = (v: string) => Buffer.from(v).toString('base64')

t.test('Redis hung (SIGSTOP): every request succeeds within its bound, nothing piles up, the tier back after SIGCONT', async (t) => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const { app } = await buildTestApp(t, { REDIS_URL: redis.url, CACHE_REDIS_TIMEOUT_MS: String(CACHE_TIMEOUT_MS) })
  const base = await listen(app)
  const admin = await signUp(base, 'teacher')
  const ladder = byteLadder()
  const { video } = await publishVideo(app, ladder)
  const seg = (n: number, rung = '360p') => `/hls/${video._id}/${rung}/segment-0000${n}.ts`
  t.equal((await call(base, seg(0))).status, 200)
  t.equal((await call(base, '/health/ready')).json?.dependencies.cacheRedis, 'ok', 'the tier is up before the hang')
  const connectionsBefore = await establishedTo(redis.port)

  await redis.pause()
  t.teardown(async () => { await redis.resume() })

  const answers: Array<[string, TimedAnswer]> = []
  const expect = async (what: string, status: number, p: Promise<TimedAnswer>) => {
    const res = await p
    answers.push([what, res])
    t.equal(res.status, status, `${what}: ${status} (${res.body.toString().slice(0, 200)})`)
    t.ok(res.ms < BOUND_MS, `${what}: answered in ${res.ms} ms, within ${BOUND_MS} ms`)
    return res
  }
  for (const n of [0, 1, 2]) {
    const res = await expect(`segment ${n}`, 200, timedCall(base, seg(n)))
    t.ok(res.body.equals(ladder.get(`360p/segment-0000${n}.ts`)!), `segment ${n}: its bytes`)
  }
  await expect('a media playlist never read', 200, timedCall(base, `/hls/${video._id}/180p/index.m3u8`))
  await expect('an MP4 range', 206, timedCall(base, `/stream/${video._id}`, { headers: { range: 'bytes=1048576-1049599' } }))
  await expect('a sign-in (rate limited through Redis)', 200, timedCall(base, '/api/auth/login', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'teacher@example.org', password: 'correct horse battery' })
  }))
  await expect('my videos (the account state is shared through Redis)', 200, timedCall(base, '/api/videos', { headers: admin }))
  const { payload, headers } = multipartBody([{ name: 'title', value: 'During the hang' }, { name: 'file', filename: 'lecture.mp4', content: fakeVideo(128 * 1024) }])
  await expect('an upload', 202, timedCall(base, '/api/videos', { method: 'POST', headers: { ...headers, ...admin }, body: payload }))

  // A resumable upload: its PATCH takes the upload's lock, which lives in Redis.
  const content = fakeVideo(64 * 1024)
  const created = await expect('a resumable upload created', 201, timedCall(base, '/api/uploads', {
    method: 'POST',
    headers: { ...admin, 'tus-resumable': '1.0.0', 'upload-length': String(content.length), 'upload-metadata': `title ${b64('Resumable during the hang')},filename ${b64('lecture.mp4')},filetype ${b64('video/mp4')}` }
  }))
  const location = new URL(created.headers.get('location') ?? '', base).pathname
  await expect('its bytes sent (PATCH)', 204, timedCall(base, location, {
    method: 'PATCH',
    headers: { ...admin, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
    body: content
  }))

  // The upload lock, taken on this node only while Redis hangs, still lets one request at a time
  // write an upload: a second waits for the first to let go.
  const lockClients = [new Redis(redis.url, { maxRetriesPerRequest: 1 }), new Redis(redis.url, { maxRetriesPerRequest: 1 })]
  t.teardown(() => { for (const c of lockClients) c.disconnect() })
  let away = 0
  const locker = new RedisLocker({ redis: lockClients[0]!, subscriber: lockClients[1]!, prefix: 'test:hung:', redisTimeoutMs: 300, onRedisAway: () => { away++ } })
  const events: string[] = []
  const first = locker.newLock('upload-1')
  await first.lock(new AbortController().signal, () => { events.push('first asked to let go'); setTimeout(() => { events.push('first lets go'); void first.unlock() }, 200) })
  events.push('first holds')
  await locker.newLock('upload-1').lock(new AbortController().signal, () => {})
  events.push('second holds')
  // (asked again at each poll until it lets go, as across nodes)
  t.same([...new Set(events)], ['first holds', 'first asked to let go', 'first lets go', 'second holds'], 'one holder at a time while Redis hangs')
  t.ok(away > 0, 'and Redis was seen away')

  // Waves of segment requests: all served, and still one connection per Redis client.
  for (let wave = 0; wave < 3; wave++) {
    const wave16 = await Promise.all(Array.from({ length: 16 }, (_v, i) => timedCall(base, seg(i % 3, i % 2 === 0 ? '360p' : '180p'))))
    t.same([...new Set(wave16.map((a) => a.status))], [200], `wave ${wave + 1}: 16 segments, all 200`)
    const slowest = Math.max(...wave16.map((a) => a.ms))
    t.ok(slowest < BOUND_MS, `wave ${wave + 1}: the slowest in ${slowest} ms, within ${BOUND_MS} ms`)
  }
  const connectionsDuring = await establishedTo(redis.port) - lockClients.length
  t.ok(connectionsDuring <= connectionsBefore + 1, `connections to the hung Redis do not grow with requests (${connectionsBefore} before, ${connectionsDuring} during)`)
  t.comment(`while hung: ${answers.map(([what, a]) => `${what} ${a.status} in ${a.ms} ms`).join('; ')}`)

  const ready = await timedCall(base, '/health/ready')
  t.comment(`/health/ready while hung: ${ready.status} in ${ready.ms} ms: ${JSON.stringify(ready.json?.dependencies)} ${JSON.stringify(ready.json?.outages.cacheRedis)}`)
  t.equal(ready.json?.dependencies.cacheRedis, 'down', '/health/ready says the tier is down')
  t.equal(ready.json?.outages.cacheRedis[0]?.to, null, 'an outage going on')
  t.match(ready.json?.outages.cacheRedis[0]?.error, /timed out|did not answer/, 'seen as Redis not answering')
  t.equal(ready.json?.dependencies.storage, 'ok')
  t.equal(ready.json?.dependencies.database, 'ok')
  t.ok(ready.ms < 2000 + SCHEDULING_MARGIN_MS, `/health/ready answered in ${ready.ms} ms`)

  await redis.resume()

  t.ok(await until(async () => (await call(base, '/health/ready')).status === 200, 20_000), 'ready again after SIGCONT, without a restart')
  const after = await call(base, '/health/ready')
  t.equal(after.json?.dependencies.cacheRedis, 'ok')
  const ended = after.json?.outages.cacheRedis[0]
  t.ok(typeof ended?.to === 'string' && ended.to >= ended.from, `the outage is listed with its end (${JSON.stringify(ended)})`)
  // The tier is used again: what is read now (the master playlist, never read) is written to Redis.
  t.equal((await call(base, `/hls/${video._id}/master.m3u8`)).status, 200)
  t.ok(await until(async () => (await redisKeys(redis.url)).some((k) => k.includes(video._id) && k.includes('master')), 10_000), 'bytes reach Redis again')
  const mine = await call(base, '/api/videos', { headers: admin })
  t.same((mine.json?.items as Array<{ title: string }>).map((v) => v.title).sort(), ['During the hang', 'Fixture lecture', 'Resumable during the hang'], 'both uploads made while Redis hung are there')
})

async function redisKeys (url: string): Promise<string[]> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, commandTimeout: 2000 })
  try {
    await client.connect()
    return await client.keys('*')
  } catch {
    return []
  } finally {
    client.disconnect()
  }
}
