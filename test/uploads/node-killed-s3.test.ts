import { randomBytes } from 'node:crypto'
import t from 'tap'
import { tempDir } from '../helpers/config.js'
import { redisServerMissing, startRedisServer } from '../helpers/redis-server.js'
import { mongoServerMissing, startMongoServer } from '../helpers/ferretdb-server.js'
import { s3ServerFor } from '../helpers/s3-server.js'
import { loadConfig } from '../../src/config.js'
import { S3ObjectStore } from '../../src/storage/s3-object-store.js'
import { fakeVideo } from '../plugins/multipart-body.js'
import { startLectern } from './lectern-process.js'
import { createUpload, headUpload, patchUpload, startPatch, until } from './tus-client.js'

// Scaled out: two Lectern processes sharing S3 (s3rver), Redis and a MongoDB-protocol store
// (FerretDB). The node a PATCH is talking to is SIGKILLed while holding the upload's lock; the
// other node waits out the dead node's lock (its TTL), answers the offset of the parts that
// reached S3, and takes the rest.

const missing = [redisServerMissing(), mongoServerMissing()].filter((m) => m !== undefined).join('; ')
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (missing !== '' && ci) throw new Error(`this test must run in CI, but: ${missing}`)

t.test('S3 + Redis: an upload survives the kill of the node it was sending to', { skip: missing === '' ? false : missing }, async (t) => {
  const [redis, mongo, s3] = await Promise.all([startRedisServer(t), startMongoServer(t), s3ServerFor(t)])
  const env = { ...s3.env, S3_REGION: 'us-east-1', REDIS_URL: redis.url, MONGODB_URL: mongo.url, WORKER: 'off', JWT_SECRET: randomBytes(32).toString('hex') }
  const [a, b] = await Promise.all([
    (async () => await startLectern(t, { ...env, DATA_DIR: await tempDir(t, 'lectern-a-') }))(),
    (async () => await startLectern(t, { ...env, DATA_DIR: await tempDir(t, 'lectern-b-') }))()
  ])
  const register = await fetch(`${a.origin}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ada@example.org', password: 'correct horse battery', name: 'Ada' })
  })
  t.equal(register.status, 201)
  const { token } = await register.json() as { token: string }

  // Three 8 MiB parts and a tail.
  const file = fakeVideo(3 * 8 * 1024 * 1024 + 123_456)
  const created = await createUpload({ origin: a.origin, token }, file.length, { title: 'Survives a crash on S3', filename: 'lecture.mp4' })
  t.equal(created.status, 201, created.body)
  const id = created.headers.location!.split('/').pop()!
  const bucket = new S3ObjectStore({ config: loadConfig({ ...env }).s3! })
  t.teardown(() => bucket.close())

  // Node A gets 20 MiB of a PATCH (two whole parts reach S3), then dies with the lock held.
  const socket = await startPatch({ origin: a.origin, token }, created.headers.location!, 0, file.length, file.subarray(0, 20 * 1024 * 1024))
  const started = Date.now()
  t.ok(await until(async () => /"n":2/.test(JSON.stringify(await mongoParts(env.MONGODB_URL, id))), 20_000), 'node A stored two parts in S3')
  await a.kill()
  socket.destroy()
  t.comment(`node A killed ${Date.now() - started} ms after the PATCH began`)

  const target = { origin: b.origin, token }
  const url = `${b.origin}/api/uploads/${id}`
  const asked = Date.now()
  const head = await headUpload(target, url)
  t.equal(head.status, 200, head.body)
  const offset = Number(head.headers['upload-offset'])
  t.equal(offset, 2 * 8 * 1024 * 1024, 'node B resumes from the two parts that reached S3')
  t.ok(Date.now() - asked < 15_000, `node B got the dead node's lock within its TTL (${Date.now() - asked} ms)`)
  const rest = await patchUpload(target, url, offset, file.subarray(offset))
  t.equal(rest.status, 204, rest.body)

  const video = await fetch(`${b.origin}/api/videos/${id}`, { headers: { authorization: `Bearer ${token}` } })
  t.match(await video.json(), { id, status: 'uploaded', originalSize: file.length })
  const chunks: Buffer[] = []
  for await (const chunk of await bucket.get(`originals/${id}`)) chunks.push(chunk as Buffer)
  t.ok(Buffer.concat(chunks).equals(file), 'the original in S3 is byte-identical to the file')
  t.equal(await b.stop(), 0, 'node B exits cleanly')
})

/** The parts the upload's record lists, read straight from the shared store. */
async function mongoParts (url: string, id: string): Promise<unknown> {
  const { MongoClient } = await import('mongodb')
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 2000 })
  try {
    await client.connect()
    const record = await client.db().collection<{ _id: string, parts?: unknown[] }>('uploads').findOne({ _id: id })
    return record?.parts ?? []
  } finally {
    await client.close()
  }
}
