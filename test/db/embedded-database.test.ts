import t from 'tap'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hostname } from 'node:os'
import { openEmbeddedDatabase } from '../../src/db/embedded-database.js'
import { tempDir } from '../helpers/config.js'
import { collectionContract } from './collection.contract.js'

collectionContract(t, async (t) => {
  const db = await openEmbeddedDatabase({ dir: join(await tempDir(t), 'db') })
  t.teardown(() => db.close())
  return db
})

interface Note { _id: string, text: string, at: Date, n: number }

t.test('data survives close and reopen, Dates included', async (t) => {
  const dir = join(await tempDir(t), 'db')
  const at = new Date(Date.UTC(2024, 2, 3, 4, 5, 6, 7))
  const first = await openEmbeddedDatabase({ dir })
  const notes = first.collection<Note>('notes')
  await notes.createIndex({ text: 1 }, { unique: true })
  await notes.insertOne({ _id: 'n1', text: 'one', at, n: 1 })
  await notes.insertOne({ _id: 'n2', text: 'two', at, n: 2 })
  await notes.updateOne({ _id: 'n1' }, { $inc: { n: 10 } })
  await notes.deleteOne({ _id: 'n2' })
  await first.close()

  const second = await openEmbeddedDatabase({ dir })
  t.teardown(() => second.close())
  const again = second.collection<Note>('notes')
  const docs = await again.find({})
  t.equal(docs.length, 1, 'the deleted document stays deleted')
  t.equal(docs[0]?.n, 11, 'the update survived')
  t.ok(docs[0]?.at instanceof Date, 'a Date read back from disk is a Date')
  t.equal(docs[0]?.at.getTime(), at.getTime())
  await t.rejects(again.insertOne({ _id: 'n3', text: 'one', at, n: 3 }), { code: 'LECTERN_ERR_DUPLICATE' }, 'the unique index was restored from disk')
})

t.test('writes queued before close land; calls after close are refused', async (t) => {
  const dir = join(await tempDir(t), 'db')
  const db = await openEmbeddedDatabase({ dir })
  const notes = db.collection<Note>('notes')
  const writes = Array.from({ length: 50 }, (_, i) => notes.insertOne({ _id: `n${i}`, text: `t${i}`, at: new Date(), n: i }))
  const closed = db.close()
  await Promise.all(writes)
  await closed
  await t.rejects(notes.insertOne({ _id: 'late', text: 'late', at: new Date(), n: 0 }), /closed/)
  await t.rejects(notes.find({}), /closed/)
  await t.rejects(db.probe(), /closed/)
  t.throws(() => db.collection('other'), /closed/)
  await db.close() // twice is fine

  const reopened = await openEmbeddedDatabase({ dir })
  t.teardown(() => reopened.close())
  t.equal(await reopened.collection<Note>('notes').countDocuments(), 50)
})

t.test('compaction rewrites the datafile without superseded lines', async (t) => {
  const dir = join(await tempDir(t), 'db')
  const db = await openEmbeddedDatabase({ dir })
  t.teardown(() => db.close())
  const notes = db.collection<Note>('notes')
  await notes.insertOne({ _id: 'n1', text: 'x', at: new Date(), n: 0 })
  for (let i = 0; i < 100; i++) await notes.updateOne({ _id: 'n1' }, { $inc: { n: 1 } })
  const file = join(dir, 'notes.db')
  const grown = (await stat(file)).size
  await db.compact()
  const compacted = (await stat(file)).size
  t.ok(compacted * 10 < grown, `the file shrank from ${grown} to ${compacted} bytes`)
  t.equal((await notes.findOne({ _id: 'n1' }))?.n, 100)
  t.equal((await readFile(file, 'utf8')).trim().split('\n').length, 1, 'one line for one document')
})

t.test('the compaction timer runs on its interval and does not hold the process open', async (t) => {
  const dir = join(await tempDir(t), 'db')
  const db = await openEmbeddedDatabase({ dir, compactionIntervalMs: 50 })
  t.teardown(() => db.close())
  const notes = db.collection<Note>('notes')
  await notes.insertOne({ _id: 'n1', text: 'x', at: new Date(), n: 0 })
  for (let i = 0; i < 20; i++) await notes.updateOne({ _id: 'n1' }, { $inc: { n: 1 } })
  const file = join(dir, 'notes.db')
  const deadline = Date.now() + 5000
  while ((await readFile(file, 'utf8')).trim().split('\n').length > 1) {
    if (Date.now() > deadline) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.equal((await readFile(file, 'utf8')).trim().split('\n').length, 1, 'compacted without being asked')
})

t.test('one opener at a time', async (t) => {
  const dir = join(await tempDir(t), 'db')
  const db = await openEmbeddedDatabase({ dir })
  await t.rejects(openEmbeddedDatabase({ dir }), /already open in this process/, 'a second instance in this process is refused')
  await db.close()
  const again = await openEmbeddedDatabase({ dir })
  await again.close()

  // A fresh lock held by a live process (our parent, which surely exists) refuses the open...
  await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: process.ppid, host: hostname(), since: 'then' }))
  await t.rejects(openEmbeddedDatabase({ dir }), new RegExp(`in use by process ${process.ppid} .*set MONGODB_URL`))
  // ...one left by a process that is gone does not.
  await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: 2147483646, host: hostname(), since: 'then' }))
  const stale = await openEmbeddedDatabase({ dir })
  t.equal(stale.kind, 'embedded')
  await stale.close()
})

t.test('probe and bad input', async (t) => {
  const root = await tempDir(t)
  const db = await openEmbeddedDatabase({ dir: join(root, 'db') })
  t.teardown(() => db.close())
  await db.probe()
  t.pass('probe resolves on a usable directory')
  t.throws(() => db.collection('../escape'), /Invalid collection name/)
  t.throws(() => db.collection(''), /Invalid collection name/)
  const c = db.collection<{ _id: string, a?: number }>('things')
  await t.rejects(c.insertOne({ a: 1 } as unknown as { _id: string }), /string _id/)
  await t.rejects(c.find({ a: { $where: 'x' } }), /Unsupported query operator \$where/)
  await t.rejects(c.updateOne({}, {}), /at least one of/)
  await t.rejects(c.updateOne({}, { $rename: { a: 'b' } } as object), /Unsupported update operator \$rename/)

  await writeFile(join(root, 'file'), 'not a directory')
  await t.rejects(openEmbeddedDatabase({ dir: join(root, 'file', 'db') }), /is not usable/)
})

t.test('a corrupt datafile is a clear error on use', async (t) => {
  const dir = join(await tempDir(t), 'db')
  const first = await openEmbeddedDatabase({ dir })
  await first.collection('notes').insertOne({ _id: 'ok' })
  await first.close()
  await writeFile(join(dir, 'notes.db'), 'garbage\n'.repeat(20))
  const db = await openEmbeddedDatabase({ dir })
  t.teardown(() => db.close())
  await t.rejects(db.collection('notes').find({}), /notes\.db could not be loaded/)
  await t.rejects(db.probe(), /notes\.db could not be loaded/, 'readiness reports it')
})
