import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import storagePlugin from '../../src/storage/storage-plugin.js'
import { FsObjectStore } from '../../src/storage/fs-object-store.js'
import { buildTestApp } from '../helpers/app.js'
import { tempDir, testConfig } from '../helpers/config.js'
import { s3ServerFor } from '../helpers/s3-server.js'

t.test('embedded default: objects are files under DATA_DIR/objects', async (t) => {
  const config = await testConfig(t)
  const app = Fastify({ logger: false })
  await app.register(storagePlugin, { config })
  await app.ready()
  t.teardown(() => app.close())
  t.equal(app.storage.kind, 'fs')
  await app.storage.put('originals/v1', Buffer.from('lecture'))
  t.equal(await readFile(join(config.dataDir, 'objects', 'originals', 'v1'), 'utf8'), 'lecture')
})

t.test('S3_BUCKET set: objects go to S3', async (t) => {
  const server = await s3ServerFor(t)
  const config = await testConfig(t, server.env)
  const app = Fastify({ logger: false })
  await app.register(storagePlugin, { config })
  await app.ready()
  t.teardown(() => app.close())
  t.equal(app.storage.kind, 's3')
  await app.storage.put('originals/v1', Buffer.from('lecture'))
  t.equal((await app.storage.head('originals/v1')).size, 7)
})

t.test('a store passed in is used and left open', async (t) => {
  const config = await testConfig(t)
  const store = await FsObjectStore.open({ root: join(await tempDir(t), 'objects') })
  let closes = 0
  const close = store.close.bind(store)
  store.close = async () => { closes++; await close() }
  const app = Fastify({ logger: false })
  await app.register(storagePlugin, { config, store })
  await app.ready()
  t.equal(app.storage, store)
  await app.close()
  t.equal(closes, 0, 'the caller owns it')
})

t.test('readiness follows the object store', async (t) => {
  const server = await s3ServerFor(t)
  const { app } = await buildTestApp(t, server.env)
  const up = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(up.json().dependencies.storage, 'ok')
  await server.close()
  const down = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(down.statusCode, 503)
  t.equal(down.json().dependencies.storage, 'down')
})
