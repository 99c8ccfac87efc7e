import { connect } from 'node:net'
import t from 'tap'
import Fastify from 'fastify'
import { MongoClient } from 'mongodb'
import { S3Client, HeadBucketCommand } from '@aws-sdk/client-s3'
import { unreachableReason, StorageUnavailableError } from '../../src/errors.js'
import { errorHandler } from '../../src/error-handler.js'
import { OutageLog } from '../../src/dependency-outages.js'
import { freePort } from '../helpers/free-port.js'

// The one classification of "unreachable", on errors the real clients raise against a port on
// which nothing listens; the error handler's answer for one no store wrapped; the outage log.

async function refusedError (port: number): Promise<Error> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.on('error', resolve)
  })
}

t.test('what the clients raise when nothing listens is unreachable, with words that name no host', async (t) => {
  const port = await freePort()
  t.equal(unreachableReason(await refusedError(port)), 'connection refused', 'a socket')

  const mongo = new MongoClient(`mongodb://127.0.0.1:${port}/x`, { serverSelectionTimeoutMS: 300 })
  const selection = await mongo.db('x').command({ ping: 1 }).then(() => undefined, (err: unknown) => err)
  await mongo.close()
  t.match(unreachableReason(selection), /no server answered|connection refused/, 'the MongoDB driver')

  const s3 = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } })
  const head = await s3.send(new HeadBucketCommand({ Bucket: 'b' })).then(() => undefined, (err: unknown) => err)
  s3.destroy()
  t.equal(unreachableReason(head), 'connection refused', 'the AWS SDK')

  t.equal(unreachableReason(new StorageUnavailableError({ cause: await refusedError(port) })), 'connection refused', 'through a cause')
  t.equal(unreachableReason(new Error('boom')), undefined, 'not any error')
  t.equal(unreachableReason(Object.assign(new Error('gone'), { code: 'ENOENT' })), undefined, 'not a missing file')
})

t.test('an unreachable error no store wrapped is a 503 that names no host, with Retry-After', async (t) => {
  const port = await freePort()
  const app = Fastify({ logger: false })
  app.setErrorHandler(errorHandler)
  app.get('/raw', async () => { throw await refusedError(port) })
  app.get('/storage', async () => { throw new StorageUnavailableError({ cause: await refusedError(port) }) })
  app.get('/other', async () => { throw new Error(`connect to 127.0.0.1:${port} failed`) })
  t.teardown(() => app.close())

  const raw = await app.inject('/raw')
  t.equal(raw.statusCode, 503)
  t.equal(raw.json().code, 'LECTERN_ERR_DEPENDENCY_UNAVAILABLE')
  t.match(raw.json().message, /unreachable right now; try again/)
  t.notMatch(raw.body, /127\.0\.0\.1|ECONNREFUSED/)
  t.equal(raw.headers['retry-after'], '5')

  const storage = await app.inject('/storage')
  t.same(storage.json(), { statusCode: 503, code: 'LECTERN_ERR_STORAGE_UNAVAILABLE', error: 'Service Unavailable', message: 'The video storage is unreachable right now; try again in a moment' })

  const other = await app.inject('/other')
  t.equal(other.statusCode, 500, 'any other failure stays a hidden 500')
  t.notMatch(other.body, /127\.0\.0\.1/)
  t.equal(other.headers['retry-after'], undefined)
})

t.test('the outage log: one open at a time, the first error kept, the last N within the window', async (t) => {
  const log = new OutageLog(2, 60_000)
  t.same(log.recent(0), [])
  log.down('connection refused', 1000)
  log.down('timed out', 2000)
  t.same(log.recent(2000), [{ from: new Date(1000).toISOString(), to: null, error: 'connection refused' }])
  log.up(3000)
  log.up(4000)
  t.same(log.recent(4000), [{ from: new Date(1000).toISOString(), to: new Date(3000).toISOString(), error: 'connection refused' }])
  log.down('a', 5000)
  log.up(6000)
  log.down('b', 7000)
  log.up(8000)
  t.same(log.recent(8000).map((o) => o.error), ['b', 'a'], 'newest first, at most 2')
  t.same(log.recent(8000 + 60_001 - 2000).map((o) => o.error), ['b'], 'older than the window: gone')
})
