import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('embedded defaults with nothing set', async (t) => {
  const c = loadConfig({})
  t.equal(c.port, 3000)
  t.equal(c.host, '127.0.0.1')
  t.match(c.dataDir, /\/data$/)
  t.equal(c.s3, undefined)
  t.equal(c.redisUrl, undefined)
  t.equal(c.mongodbUrl, undefined)
  t.equal(c.worker, 'inline')
  t.equal(c.uploadMaxBytes, 4096 * 1024 * 1024)
  t.ok(c.cache.memoryBytes >= 16 * 1024 * 1024)
})

t.test('a bad value names the variable and the problem in one line', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /^PORT: .*"abc"/],
    [{ PORT: '70000' }, /^PORT: /],
    [{ REDIS_URL: 'not a url' }, /^REDIS_URL: is not a valid URL/],
    [{ REDIS_URL: 'http://localhost:6379' }, /^REDIS_URL: must start with redis:\/\//],
    [{ MONGODB_URL: 'localhost:27017' }, /^MONGODB_URL: /],
    [{ S3_BUCKET: 'lectern' }, /^S3_BUCKET: .*S3_ENDPOINT.*S3_REGION/],
    [{ S3_BUCKET: 'Bad_Bucket', S3_REGION: 'eu-west-1' }, /^S3_BUCKET: .*not a valid bucket name/],
    [{ S3_ENDPOINT: 'http://127.0.0.1:9000' }, /^S3_ENDPOINT: .*S3_BUCKET/],
    [{ WORKER: 'sometimes' }, /^WORKER: /],
    [{ S3_FORCE_PATH_STYLE: 'maybe' }, /^S3_FORCE_PATH_STYLE: must be true or false/],
    [{ JWT_SECRET: 'short' }, /^JWT_SECRET: must be at least 32 characters/],
    [{ CACHE_MEMORY_MB: '0' }, /^CACHE_MEMORY_MB: /],
    [{ UPLOAD_MAX_MB: '-5' }, /^UPLOAD_MAX_MB: /]
  ]
  for (const [env, pattern] of cases) {
    const err = t.throws(() => loadConfig(env), ConfigError, JSON.stringify(env)) as Error
    t.match(err.message, pattern, JSON.stringify(env))
    t.notMatch(err.message, /\n/, 'one line')
  }
})

t.test('S3 with a region or an endpoint, and credentials from either name', async (t) => {
  const a = loadConfig({ S3_BUCKET: 'lectern-media', S3_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' })
  t.same(a.s3, { bucket: 'lectern-media', endpoint: undefined, region: 'eu-west-1', forcePathStyle: false, accessKeyId: 'k', secretAccessKey: 's', socketTimeoutMs: 30000 })
  const b = loadConfig({ S3_BUCKET: 'lectern', S3_ENDPOINT: 'http://127.0.0.1:9000', S3_FORCE_PATH_STYLE: 'true' })
  t.equal(b.s3?.region, 'us-east-1')
  t.equal(b.s3?.forcePathStyle, true)
  t.equal(b.s3?.endpoint, 'http://127.0.0.1:9000')
})

t.test('empty strings count as unset', async (t) => {
  const c = loadConfig({ PORT: '', REDIS_URL: '', S3_BUCKET: '' })
  t.equal(c.port, 3000)
  t.equal(c.redisUrl, undefined)
  t.equal(c.s3, undefined)
})
