import t from 'tap'
import { MongoClient } from 'mongodb'
import { openMongoDatabase, databaseNameFromUrl, redactUrl } from '../../src/db/mongo-database.js'
import { requireMongoServer, startMongoServer } from '../helpers/ferretdb-server.js'
import { collectionContract } from './collection.contract.js'

t.test('URL helpers', async (t) => {
  t.equal(databaseNameFromUrl('mongodb://localhost:27017/lectern'), 'lectern')
  t.equal(databaseNameFromUrl('mongodb://u:p@h1:1,h2:2/media?replicaSet=rs0'), 'media', 'seed lists and options')
  t.equal(databaseNameFromUrl('mongodb://localhost:27017'), undefined)
  t.equal(databaseNameFromUrl('mongodb://localhost:27017/?tls=true'), undefined)
  t.equal(databaseNameFromUrl('mongodb+srv://cluster.example.org/app'), 'app')
  t.equal(redactUrl('mongodb://lectern:s3cret@db:27017/lectern'), 'mongodb://lectern:***@db:27017/lectern')
  t.equal(redactUrl('mongodb://db:27017/lectern'), 'mongodb://db:27017/lectern')
})

t.test('an unreachable server is a clear error at open, without the password', async (t) => {
  const started = Date.now()
  const err = await openMongoDatabase({ url: 'mongodb://lectern:s3cret@127.0.0.1:1/lectern', serverSelectionTimeoutMs: 300 }).then(() => null, (e: Error) => e)
  t.match(err?.message, /^MONGODB_URL: cannot reach MongoDB at mongodb:\/\/lectern:\*\*\*@127\.0\.0\.1:1\/lectern: /)
  t.notMatch(err?.message, /s3cret/, 'the password stays out of the message')
  t.ok(Date.now() - started < 10_000, 'gives up after the server selection timeout')
})

t.test('against a MongoDB-protocol server', async (t) => {
  if (!requireMongoServer(t)) return
  const server = await startMongoServer(t)
  t.comment(`server: ${server.source}`)

  collectionContract(t, async (t) => {
    const db = await openMongoDatabase({ url: server.freshUrl() })
    t.teardown(async () => {
      await db.drop().catch(() => {})
      await db.close()
    })
    return db
  })

  t.test('the database comes from the URL path; ids stay strings; probe answers', async (t) => {
    const url = server.freshUrl()
    const name = databaseNameFromUrl(url)!
    const db = await openMongoDatabase({ url })
    t.teardown(() => db.close())
    t.equal(db.kind, 'mongodb')
    t.equal(db.databaseName, name)
    await db.probe()
    await db.collection('jobs').updateOne({ videoId: 'v1' }, { $set: { state: 'queued' } }, { upsert: true })
    const raw = new MongoClient(url)
    t.teardown(() => raw.close())
    const stored = await raw.db(name).collection('jobs').findOne({ videoId: 'v1' })
    t.equal(typeof stored?._id, 'string', 'an upserted _id is a string, not an ObjectId')
    await db.drop()
  })

  t.test('probe rejects when the server is gone', { skip: server.source !== 'ferretdb' && 'needs a server this test may stop' }, async (t) => {
    const own = await startMongoServer(t)
    const db = await openMongoDatabase({ url: own.url })
    t.teardown(() => db.close())
    await db.probe()
    await own.stop()
    const started = Date.now()
    await t.rejects(db.probe(), 'a stopped server fails the probe')
    t.comment(`probe failed after ${Date.now() - started} ms`)
  })

  t.test('probe rejects once closed', async (t) => {
    const db = await openMongoDatabase({ url: server.freshUrl() })
    await db.close()
    await t.rejects(db.probe(), /closed/)
  })
})
