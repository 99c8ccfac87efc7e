import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { ObjectNotFoundError } from '../../src/errors.js'
import { S3ObjectStore } from '../../src/storage/s3-object-store.js'
import { s3ServerFor, startS3Server, type S3Server } from '../helpers/s3-server.js'
import { chunkedStream, failingStream, objectStoreContract, patternBytes } from './object-store.contract.js'
import { captureLogger } from '../helpers/capture-logger.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'

const MiB = 1024 * 1024

function storeFor (t: Parameters<typeof s3ServerFor>[0], server: S3Server, env: Record<string, string> = {}): S3ObjectStore {
  const config = loadConfig({ ...server.env, ...env })
  // The smallest part S3 allows, so the contract's 12 MiB object takes three parts.
  const store = new S3ObjectStore({ config: config.s3!, partSize: 5 * MiB })
  t.teardown(() => store.close())
  return store
}

// One server for the contract, a fresh bucket per subtest: each starts empty, without paying
// for a server start each time.
const shared = await startS3Server()
t.teardown(() => shared.close())
let buckets = 0
objectStoreContract(t, async (t) => {
  const bucket = `contract-${++buckets}`
  const store = storeFor(t, shared, { S3_BUCKET: bucket })
  await store.client.send(new CreateBucketCommand({ Bucket: bucket }))
  return { store }
})

t.test('s3: listing and deletePrefix page through more than 1000 objects', async (t) => {
  const server = await s3ServerFor(t)
  const store = storeFor(t, server)
  const keys = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(4, '0')}`)
  for (let i = 0; i < keys.length; i += 25) {
    await Promise.all(keys.slice(i, i + 25).map((key) => store.put(key, Buffer.from(key))))
  }
  await store.put('other/kept', Buffer.from('kept'))
  const listed = await store.list('many/')
  t.equal(listed.length, 1005)
  t.same(listed.map((o) => o.key), keys, 'every key, in order, across pages')
  t.equal(await store.deletePrefix('many/'), 1005)
  t.same(await store.list('many/'), [])
  t.same((await store.list('')).map((o) => o.key), ['other/kept'])
})

t.test('s3: content type is stored with the object', async (t) => {
  const server = await s3ServerFor(t)
  const store = storeFor(t, server)
  await store.put('v/master.m3u8', chunkedStream(Buffer.from('#EXTM3U\n')), { contentType: 'application/vnd.apple.mpegurl' })
  const out = await store.client.send(new HeadObjectCommand({ Bucket: server.bucket, Key: 'v/master.m3u8' }))
  t.equal(out.ContentType, 'application/vnd.apple.mpegurl')
})

t.test('s3: a missing bucket is not a missing object, and probe says so', async (t) => {
  const server = await s3ServerFor(t)
  const store = storeFor(t, server, { S3_BUCKET: 'no-such-bucket' })
  await t.rejects(store.probe())
  const err = await store.get('some/key').catch((e: unknown) => e)
  t.notOk(err instanceof ObjectNotFoundError, 'a misconfigured bucket must not read as a 404 for the object')
  t.match(err, { name: 'NoSuchBucket' })
})

t.test('s3: probe fails when the service is down', async (t) => {
  const server = await s3ServerFor(t)
  const store = storeFor(t, server)
  await t.resolves(store.probe())
  await server.close()
  await t.rejects(store.probe())
})

t.test('s3: a failed multipart upload whose abort the store refuses is logged, and the source error wins', async (t) => {
  // s3rver answers AbortMultipartUpload with 405: a real store that cannot clean up.
  const server = await s3ServerFor(t)
  const { log, lines } = captureLogger('warn')
  const store = new S3ObjectStore({ config: loadConfig(server.env).s3!, log, partSize: 5 * MiB })
  t.teardown(() => store.close())
  const data = patternBytes(12 * MiB, 40)
  await t.rejects(store.put('f/x', failingStream(data, 11 * MiB)), { message: 'source failed halfway' })
  await t.rejects(store.head('f/x'), ObjectNotFoundError)
  t.match(lines, [{ msg: /AbortIncompleteMultipartUpload/, key: 'f/x' }])
})

t.test('s3: credentials are required in pairs by the factory', async (t) => {
  const server = await s3ServerFor(t)
  const config = loadConfig({ ...server.env, S3_SECRET_ACCESS_KEY: '' })
  await t.rejects(createObjectStore(config, captureLogger().log), { name: 'ConfigError', message: /^S3_SECRET_ACCESS_KEY \(or AWS_SECRET_ACCESS_KEY\): is not set/ })
})

t.test('s3: a large Buffer put can be aborted mid-upload', async (t) => {
  const server = await s3ServerFor(t)
  const store = storeFor(t, server)
  const controller = new AbortController()
  // 24 MiB through s3rver takes far longer than one tick: the abort lands mid-upload.
  const putting = store.put('b/big', patternBytes(24 * MiB, 41), { signal: controller.signal })
  setImmediate(() => controller.abort())
  await t.rejects(putting, { name: 'AbortError' })
  await t.rejects(store.head('b/big'), ObjectNotFoundError)
})
