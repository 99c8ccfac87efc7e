import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { publishVideo } from '../delivery/fixtures.js'
import { haveFerretDb, restartableFerretDb } from './restartable-servers.js'
import { byteLadder, call, isUnavailable, listen, outageGoingOn, signUp, until } from './fault-client.js'

// The MongoDB-wire server restarted: FerretDB SIGKILLed under one Lectern on a real socket, then
// started again on the same port with the same files. Meanwhile requests that need it answer 503
// with a message (never a hang, never a crash); after, they succeed again without restarting
// Lectern. A MONGODB_URL of the developer's cannot be killed and restarted: FerretDB is required.

const DATABASE_AWAY = /metadata store is unreachable/

t.test('FerretDB away: 503s that say so, then everything back without a restart', async (t) => {
  if (!haveFerretDb(t)) return
  const db = await restartableFerretDb(t)
  const { app } = await buildTestApp(t, { MONGODB_URL: db.url })
  t.equal(app.db.kind, 'mongodb')
  const base = await listen(app)
  const admin = await signUp(base, 'admin')
  const ladder = byteLadder()
  const { video } = await publishVideo(app, ladder)
  const seg = (n: number) => `/hls/${video._id}/360p/segment-0000${n}.ts`
  for (let i = 0; i < 2; i++) {
    const res = await call(base, seg(0))
    t.equal(res.status, 200)
    t.ok(res.body.equals(ladder.get('360p/segment-00000.ts')!), 'segment 0 plays before the outage')
  }
  t.equal((await call(base, '/health/ready')).status, 200, 'ready before the outage')

  await db.kill()

  // Delivery reuses a video document for one second (a visibility change is seen that late). Once
  // that has passed, a public video that was playable when last read plays on while the store is
  // away, from memory or from storage (which is up); whatever needs the store answers 503.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  for (let i = 0; i < 3; i++) {
    const cached = await call(base, seg(0))
    t.equal(cached.status, 200, `a cached segment of the public video, ${i + 1}: 200`)
    t.ok(cached.body.equals(ladder.get('360p/segment-00000.ts')!), 'with its bytes')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  const uncached = await call(base, seg(1))
  t.equal(uncached.status, 200, 'an uncached segment of it too (storage is up)')
  t.ok(uncached.body.equals(ladder.get('360p/segment-00001.ts')!), 'with its bytes')
  isUnavailable(t, await call(base, '/hls/0123456789abcdef0123/master.m3u8'), 'LECTERN_ERR_DATABASE_UNAVAILABLE', DATABASE_AWAY, 'a video never read before')
  isUnavailable(t, await call(base, `/api/videos/${video._id}`), 'LECTERN_ERR_DATABASE_UNAVAILABLE', DATABASE_AWAY, 'a video\'s metadata')
  isUnavailable(t, await call(base, '/api/videos', { headers: admin }), 'LECTERN_ERR_DATABASE_UNAVAILABLE', DATABASE_AWAY, 'my videos')
  isUnavailable(t, await call(base, '/api/auth/login', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.org', password: 'correct horse battery' })
  }), 'LECTERN_ERR_DATABASE_UNAVAILABLE', DATABASE_AWAY, 'a sign-in')

  await outageGoingOn(t, base, 'database', /no server answered|connection (refused|reset|lost)/)

  await db.start()

  t.ok(await until(async () => (await call(base, `/api/videos/${video._id}`)).status === 200, 30_000), 'the metadata answers again once FerretDB is back')
  const same = await call(base, `/api/videos/${video._id}`)
  t.equal(same.json?.title, 'Fixture lecture', 'from the same data')
  for (const n of [0, 1]) {
    const res = await call(base, seg(n))
    t.equal(res.status, 200, `segment ${n} plays again`)
    t.ok(res.body.equals(ladder.get(`360p/segment-0000${n}.ts`)!), `segment ${n}: its bytes`)
  }
  t.equal((await call(base, '/api/videos', { headers: admin })).status, 200, 'my videos again')
  await signUp(base, 'student')
  t.pass('a new account is written')

  const after = await call(base, '/health/ready')
  t.equal(after.status, 200, 'ready again')
  const ended = after.json?.outages.database[0]
  t.ok(typeof ended?.to === 'string' && ended.to >= ended.from, `the outage is reported with its end (${JSON.stringify(ended)})`)
})
