import t, { type Test } from 'tap'
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { openDatabase } from '../../src/db/open-database.js'
import { isDuplicateKey } from '../../src/errors.js'
import type { Database } from '../../src/db/collection.js'
import { testConfig } from '../helpers/config.js'
import { buildTestApp } from '../helpers/app.js'
import { requireMongoServer, startMongoServer } from '../helpers/ferretdb-server.js'

interface User { _id: string, email: string }
interface Logged { level: string, obj: unknown, msg: unknown }

function recordingLogger (lines: Logged[]): FastifyBaseLogger {
  const log = (level: string) => (obj: unknown, msg?: unknown) => { lines.push({ level, obj, msg }) }
  const logger = {
    level: 'info',
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    fatal: log('fatal'),
    debug: log('debug'),
    trace: log('trace'),
    silent: () => {},
    child: () => logger
  }
  return logger as unknown as FastifyBaseLogger
}

/** What ensureIndexes promises, as behaviour: the unique email, and the indexed queries answer. */
async function checkIndexes (t: Test, db: Database): Promise<void> {
  const users = db.collection<{ _id: string, email: string }>('users')
  await users.insertOne({ _id: 'u1', email: 'ada@example.org' })
  const err = await users.insertOne({ _id: 'u2', email: 'ada@example.org' }).then(() => null, (e: unknown) => e)
  t.ok(isDuplicateKey(err), 'users.email is unique')
  const jobs = db.collection<{ _id: string, state: string, runAfter: Date, videoId: string }>('jobs')
  await jobs.insertOne({ _id: 'j1', state: 'queued', runAfter: new Date(1000), videoId: 'v1' })
  await jobs.insertOne({ _id: 'j2', state: 'queued', runAfter: new Date(500), videoId: 'v2' })
  const next = await jobs.findOne({ state: 'queued', runAfter: { $lte: new Date(2000) } })
  t.ok(next !== null, 'the claim query answers')
  t.equal(await jobs.countDocuments({ videoId: 'v2' }), 1)
}

t.test('embedded by default, in DATA_DIR/db, with indexes', async (t) => {
  const config = await testConfig(t)
  const lines: Logged[] = []
  const db = await openDatabase(config, recordingLogger(lines))
  t.teardown(() => db.close())
  t.equal(db.kind, 'embedded')
  await checkIndexes(t, db)
  t.ok((await stat(join(config.dataDir, 'db', 'users.db'))).isFile(), 'users live in DATA_DIR/db/users.db')
  t.ok(lines.some((l) => l.msg === 'metadata store ready'), 'logs which store it opened')
})

t.test('opening again over existing data keeps indexes and documents', async (t) => {
  const config = await testConfig(t)
  const log = recordingLogger([])
  const first = await openDatabase(config, log)
  await first.collection<User>('users').insertOne({ _id: 'u1', email: 'ada@example.org' })
  await first.close()
  const second = await openDatabase(config, log)
  t.teardown(() => second.close())
  const err = await second.collection<User>('users').insertOne({ _id: 'u2', email: 'ada@example.org' }).then(() => null, (e: unknown) => e)
  t.ok(isDuplicateKey(err))
})

t.test('an index that existing data violates stops the open with a clear message', async (t) => {
  const config = await testConfig(t)
  const log = recordingLogger([])
  // As an older version, or a hand edit, might have left it: two users with one email, no index.
  await mkdir(join(config.dataDir, 'db'), { recursive: true })
  const users = join(config.dataDir, 'db', 'users.db')
  await writeFile(users, '{"_id":"u1","email":"same@example.org"}\n{"_id":"u2","email":"same@example.org"}\n')
  await t.rejects(openDatabase(config, log), /Could not create the embedded database indexes: .*unique/)
  // The failed open released the store: once fixed, it opens.
  await writeFile(users, '{"_id":"u1","email":"same@example.org"}\n')
  const again = await openDatabase(config, log)
  await again.close()
})

t.test('MONGODB_URL selects MongoDB', async (t) => {
  if (!requireMongoServer(t)) return
  const server = await startMongoServer(t)
  const config = await testConfig(t, { MONGODB_URL: server.freshUrl() })
  const db = await openDatabase(config, recordingLogger([]))
  t.teardown(() => db.close())
  t.equal(db.kind, 'mongodb')
  await checkIndexes(t, db)
})

t.test('MONGODB_URL that nobody answers stops the open', async (t) => {
  const config = await testConfig(t, { MONGODB_URL: 'mongodb://127.0.0.1:1/lectern?serverSelectionTimeoutMS=300' })
  await t.rejects(openDatabase(config, recordingLogger([])), /^MONGODB_URL: cannot reach MongoDB at mongodb:\/\/127\.0\.0\.1:1\/lectern/)
})

t.test('the app reports the database in /health/ready', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal(app.db.kind, 'embedded')
  const res = await app.inject('/health/ready')
  t.equal(res.json().dependencies.database, 'ok')
})
