import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { publishVideo } from '../delivery/fixtures.js'
import { haveFerretDb, restartableFerretDb } from './restartable-servers.js'
import { byteLadder, call, isUnavailable, listen, signUp, until } from './fault-client.js'
import { SCHEDULING_MARGIN_MS, establishedTo, portOf, readyWhileHung, timedCall } from './hung-dependency.js'

// The MongoDB-wire server hung: FerretDB SIGSTOPped under one Lectern on a real socket. Its
// kernel still accepts connections and buffers requests, but nothing answers. Meanwhile requests
// that need it answer 503 with a message within the configured bound (never a hang, never a
// crash): those in flight when it stopped after the operation timeout, later ones at once (a ping
// asks the server meanwhile). What does not need it keeps working, and Lectern does not pile up
// connections or writes; after SIGCONT everything succeeds again without restarting Lectern.

const DATABASE_AWAY = /metadata store is unreachable/
/**
 * MONGODB_OPERATION_TIMEOUT_MS, shorter than its default (30 s) so the test takes seconds. The
 * driver's own settings stay as in production (a 20 s silent socket, 5 s server selection): the
 * operation timeout alone must bound what a request waits.
 */
const OPERATION_TIMEOUT_MS = 3000
/** The longest a request that needs the store may wait: one operation's deadline, plus slack. */
const BOUND_MS = OPERATION_TIMEOUT_MS + SCHEDULING_MARGIN_MS

t.test('FerretDB hung (SIGSTOP): bounded 503s, no pile-up, everything back after SIGCONT', async (t) => {
  if (!haveFerretDb(t)) return
  const db = await restartableFerretDb(t)
  const { app } = await buildTestApp(t, { MONGODB_URL: db.url, MONGODB_OPERATION_TIMEOUT_MS: String(OPERATION_TIMEOUT_MS) })
  t.equal(app.db.kind, 'mongodb')
  const port = portOf(db.url)
  const base = await listen(app)
  const admin = await signUp(base, 'admin')
  const ladder = byteLadder()
  const { video } = await publishVideo(app, ladder)
  const seg = (n: number) => `/hls/${video._id}/360p/segment-0000${n}.ts`
  t.equal((await call(base, seg(0))).status, 200)
  t.equal((await call(base, '/health/ready')).status, 200, 'ready before the hang')

  await db.pause()
  t.teardown(async () => { await db.resume() })

  // Writes queue up per collection on FerretDB (its updates are not atomic). The first is sent and
  // waited for by the queue; the others are dropped once their deadline passes, not sent one after
  // another a socket timeout apart (to land once the server goes on).
  const writes = Promise.all(Array.from({ length: 8 }, async (_v, i) => {
    const begun = performance.now()
    const err = await app.db.collection<{ _id: string }>('hung_writes').insertOne({ _id: `write-${i}` }).then(() => undefined, (e: Error) => e)
    return { err, ms: Math.round(performance.now() - begun) }
  }))

  // Delivery reuses a video document for one second; past that, the public video plays on from
  // the document it last read while the store does not answer.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const started = performance.now()
  const requests = {
    metadata: timedCall(base, `/api/videos/${video._id}`),
    mine: timedCall(base, '/api/videos', { headers: admin }),
    signIn: timedCall(base, '/api/auth/login', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.org', password: 'correct horse battery' })
    }),
    neverRead: timedCall(base, '/hls/0123456789abcdef0123/master.m3u8'),
    segment: timedCall(base, seg(0))
  }
  const answers = Object.fromEntries(await Promise.all(Object.entries(requests).map(async ([k, p]) => [k, await p] as const)))
  t.comment(`answers while hung: ${Object.entries(answers).map(([k, a]) => `${k} ${a.status} in ${a.ms} ms`).join(', ')}`)
  for (const what of ['metadata', 'mine', 'signIn', 'neverRead'] as const) {
    isUnavailable(t, answers[what]!, 'LECTERN_ERR_DATABASE_UNAVAILABLE', DATABASE_AWAY, what)
    t.ok(answers[what]!.ms < BOUND_MS, `${what}: answered in ${answers[what]!.ms} ms, within the bound of ${BOUND_MS} ms`)
  }
  const failedWrites = await writes
  t.same(failedWrites.map((w) => (w.err as { code?: string } | undefined)?.code), Array(8).fill('LECTERN_ERR_DATABASE_UNAVAILABLE'), '8 queued writes all fail as the database being unreachable')
  t.ok(Math.max(...failedWrites.map((w) => w.ms)) < BOUND_MS, `the last of 8 queued writes failed after ${Math.max(...failedWrites.map((w) => w.ms))} ms, within ${BOUND_MS} ms`)
  t.equal(answers.segment!.status, 200, 'a segment of the public video plays on')
  t.ok(answers.segment!.body.equals(ladder.get('360p/segment-00000.ts')!), 'with its bytes')
  const later: number[] = []
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const res = await timedCall(base, seg(i))
    t.equal(res.status, 200, `segment ${i}, later in the hang: plays on`)
    t.ok(res.ms < BOUND_MS, `segment ${i}: in ${res.ms} ms, within ${BOUND_MS} ms`)
    later.push(res.ms)
  }
  t.comment(`segments of the public video later in the hang, a second apart: ${later.join(', ')} ms`)

  await readyWhileHung(t, base, 'database', 'storage', /timed out|no server answered/)

  // Waves of requests while it stays hung: every one is answered in the bound, and the
  // connections held to the server do not grow with the requests.
  const connections: number[] = []
  for (let wave = 0; wave < 3; wave++) {
    const answersOfWave = await Promise.all(Array.from({ length: 20 }, (_v, i) => timedCall(base, i % 2 === 0 ? `/api/videos/${video._id}` : '/api/videos', i % 2 === 0 ? {} : { headers: admin })))
    const slowest = Math.max(...answersOfWave.map((a) => a.ms))
    t.same([...new Set(answersOfWave.map((a) => a.status))], [503], `wave ${wave + 1}: 20 requests, all 503`)
    t.ok(slowest < BOUND_MS, `wave ${wave + 1}: the slowest answered in ${slowest} ms, within ${BOUND_MS} ms`)
    connections.push(await establishedTo(port))
  }
  t.comment(`connections to the hung server after each wave: ${connections.join(', ')} (elapsed ${Math.round(performance.now() - started)} ms)`)
  t.ok(Math.max(...connections) <= 10, `connections held to the hung server stay few (${connections.join(', ')})`)
  t.equal((await call(base, '/health/live')).status, 200, 'the process is up')

  await db.resume()

  t.ok(await until(async () => (await call(base, `/api/videos/${video._id}`)).status === 200, 30_000), 'the metadata answers again after SIGCONT')
  const same = await call(base, `/api/videos/${video._id}`)
  t.equal(same.json?.title, 'Fixture lecture', 'from the same data')
  t.equal((await call(base, '/api/videos', { headers: admin })).status, 200, 'my videos again')
  for (const n of [0, 1]) {
    const res = await call(base, seg(n))
    t.equal(res.status, 200, `segment ${n} plays`)
  }
  await signUp(base, 'student')
  t.pass('a new account is written')
  // The write the driver had sent when the server stopped may still be applied once it goes on
  // (its bytes were in the server's socket buffer); the 7 that never left the queue are not.
  const landed = await app.db.collection('hung_writes').countDocuments()
  t.ok(landed <= 1, `at most the one write in flight landed after SIGCONT (${landed})`)
  const after = await call(base, '/health/ready')
  t.equal(after.status, 200, 'ready again')
  const ended = after.json?.outages.database[0]
  t.ok(typeof ended?.to === 'string' && ended.to >= ended.from, `the outage is listed with its end (${JSON.stringify(ended)})`)
})
