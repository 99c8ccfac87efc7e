import type { Test } from 'tap'
import type { Collection, Database } from '../../src/db/collection.js'
import { DuplicateKeyError, isDuplicateKey } from '../../src/errors.js'
import { ID_PATTERN } from '../../src/db/new-id.js'

// The behaviour every Database backend must share. Each backend's test file runs this with a
// factory that returns a fresh, empty database and closes it when the subtest ends.

export type OpenDatabase = (t: Test) => Promise<Database>

interface Lecture {
  _id: string
  title: string
  owner?: string
  n?: number
  tags?: string[]
  status?: string
  email?: string | null
  note?: string | null
  source?: { width: number, height: number, codec?: string }
  createdAt?: Date
  at?: Date
  history?: Array<{ at: Date, what: string }>
}

interface QueuedJob {
  _id: string
  state: 'queued' | 'running'
  owner: string | null
  createdAt: Date
}

async function expectDuplicate (t: Test, op: () => Promise<unknown>, what: string): Promise<void> {
  try {
    await op()
    t.fail(`${what}: expected a DuplicateKeyError, the write succeeded`)
  } catch (err) {
    t.ok(err instanceof DuplicateKeyError, `${what}: a DuplicateKeyError (got ${(err as Error).name}: ${(err as Error).message})`)
    t.ok(isDuplicateKey(err), `${what}: isDuplicateKey`)
    t.equal((err as { statusCode?: number }).statusCode, 409, `${what}: maps to 409`)
    t.equal((err as { code?: string }).code, 'LECTERN_ERR_DUPLICATE', `${what}: code`)
  }
}

const ids = (docs: Array<{ _id: string }>) => docs.map((d) => d._id)

async function seed (c: Collection<Lecture>): Promise<void> {
  const base = Date.UTC(2024, 0, 1)
  const docs: Lecture[] = [
    { _id: 'a', title: 'Algebra I', owner: 'u1', n: 5, tags: ['math', 'intro'], status: 'ready', source: { width: 1280, height: 720 }, createdAt: new Date(base + 1000) },
    { _id: 'b', title: 'algebra II', owner: 'u1', n: 1, tags: ['math'], status: 'processing', source: { width: 640, height: 360 }, createdAt: new Date(base + 3000) },
    { _id: 'c', title: 'Biology', owner: 'u2', n: 3, tags: ['science'], status: 'ready', source: { width: 1920, height: 1080 }, createdAt: new Date(base + 2000) },
    { _id: 'd', title: 'Chemistry', owner: 'u2', n: 9, tags: [], status: 'failed', note: 'bad input', createdAt: new Date(base + 5000) },
    { _id: 'e', title: 'Drawing', owner: 'u3', n: 7, status: 'uploaded', note: null, createdAt: new Date(base + 4000) }
  ]
  for (const doc of docs) await c.insertOne(doc)
}

export function collectionContract (t: Test, open: OpenDatabase): void {
  t.test('insertOne and findOne with string ids', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    t.equal(c.name, 'lectures')
    const doc: Lecture = { _id: 'f3a9c0de00112233aabb', title: 'Optics', tags: ['physics'] }
    await c.insertOne(doc)
    t.same(doc, { _id: 'f3a9c0de00112233aabb', title: 'Optics', tags: ['physics'] }, 'the caller\'s object is not changed')
    t.same(await c.findOne({ _id: 'f3a9c0de00112233aabb' }), doc)
    t.equal(typeof (await c.findOne({ title: 'Optics' }))?._id, 'string', 'the id comes back as the same string')
    t.equal(await c.findOne({ _id: 'nope' }), null, 'no match is null')
    t.same(await c.findOne({ _id: 'f3a9c0de00112233aabb' }, { projection: { title: 1 } }), { _id: 'f3a9c0de00112233aabb', title: 'Optics' })
    t.equal(db.collection<Lecture>('lectures').name, 'lectures', 'the same collection again')
    await db.collection<Lecture>('other').insertOne({ _id: 'f3a9c0de00112233aabb', title: 'elsewhere' })
    t.equal((await c.findOne({ _id: 'f3a9c0de00112233aabb' }))?.title, 'Optics', 'collections are separate')
  })

  t.test('duplicate _id and duplicate unique-index values are DuplicateKeyErrors', async (t) => {
    const db = await open(t)
    const users = db.collection<Lecture>('users')
    await users.createIndex({ email: 1 }, { unique: true })
    await users.createIndex({ email: 1 }, { unique: true }) // again: a no-op
    await users.insertOne({ _id: 'u1', title: 'Ada', email: 'ada@example.org' })
    await users.insertOne({ _id: 'u2', title: 'Grace', email: 'grace@example.org' })
    await expectDuplicate(t, () => users.insertOne({ _id: 'u1', title: 'Other', email: 'other@example.org' }), 'same _id')
    await expectDuplicate(t, () => users.insertOne({ _id: 'u3', title: 'Imposter', email: 'ada@example.org' }), 'same email')
    await expectDuplicate(t, () => users.updateOne({ _id: 'u2' }, { $set: { email: 'ada@example.org' } }), 'updateOne to a taken email')
    await expectDuplicate(t, () => users.findOneAndUpdate({ _id: 'u2' }, { $set: { email: 'ada@example.org' } }), 'findOneAndUpdate to a taken email')
    t.equal(await users.countDocuments(), 2, 'no failed write left a document')
    t.equal((await users.findOne({ _id: 'u1' }))?.title, 'Ada', 'the first owner is unchanged')
    t.equal((await users.findOne({ _id: 'u2' }))?.email, 'grace@example.org', 'the refused update changed nothing')
    await users.insertOne({ _id: 'u3', title: 'Later', email: 'later@example.org' })
    t.equal(await users.countDocuments(), 3, 'the collection still takes writes')
  })

  t.test('find: sort, skip, limit, projection', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    t.same(ids(await c.find({}, { sort: { createdAt: 1 } })), ['a', 'c', 'b', 'e', 'd'])
    t.same(ids(await c.find({}, { sort: { createdAt: -1 }, limit: 2 })), ['d', 'e'])
    t.same(ids(await c.find({}, { sort: { createdAt: -1 }, skip: 2, limit: 2 })), ['b', 'c'])
    t.same(ids(await c.find({}, { sort: { createdAt: -1 }, skip: 4 })), ['a'])
    t.same(ids(await c.find({}, { sort: { owner: 1, n: -1 } })), ['a', 'b', 'd', 'c', 'e'], 'two sort keys')
    t.same(await c.find({ owner: 'u1' }, { sort: { n: 1 }, projection: { title: 1, n: 1 } }), [
      { _id: 'b', title: 'algebra II', n: 1 },
      { _id: 'a', title: 'Algebra I', n: 5 }
    ], 'inclusion projection keeps _id')
    t.same(await c.find({ owner: 'u1' }, { sort: { n: 1 }, projection: { _id: 0, title: 1 } }), [{ title: 'algebra II' }, { title: 'Algebra I' }], '_id can be left out')
    const [excluded] = await c.find({ _id: 'c' }, { projection: { source: 0, tags: 0, createdAt: 0 } })
    t.same(excluded, { _id: 'c', title: 'Biology', owner: 'u2', n: 3, status: 'ready' }, 'exclusion projection')
    t.same(await c.find({ owner: 'nobody' }), [], 'no match is an empty list')
  })

  t.test('dotted fields in filters, sorts, projections and updates', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    t.same(ids(await c.find({ 'source.width': { $gte: 1280 } }, { sort: { 'source.width': 1 } })), ['a', 'c'])
    t.same(ids(await c.find({ 'source.height': 360 })), ['b'])
    t.same(await c.findOne({ _id: 'a' }, { projection: { 'source.height': 1 } }), { _id: 'a', source: { height: 720 } })
    await c.updateOne({ _id: 'a' }, { $set: { 'source.codec': 'h264' } })
    t.same((await c.findOne({ _id: 'a' }))?.source, { width: 1280, height: 720, codec: 'h264' }, '$set on a dotted path keeps siblings')
    await c.updateOne({ _id: 'a' }, { $unset: { 'source.codec': '' } })
    t.same((await c.findOne({ _id: 'a' }))?.source, { width: 1280, height: 720 }, '$unset on a dotted path')
  })

  t.test('query operators', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    const q = async (filter: Record<string, unknown>) => ids(await c.find(filter, { sort: { _id: 1 } }))
    t.same(await q({ status: { $in: ['ready', 'failed'] } }), ['a', 'c', 'd'], '$in')
    t.same(await q({ status: { $nin: ['ready', 'failed'] } }), ['b', 'e'], '$nin')
    t.same(await q({ status: { $ne: 'ready' } }), ['b', 'd', 'e'], '$ne')
    t.same(await q({ status: { $eq: 'ready' } }), ['a', 'c'], '$eq')
    t.same(await q({ n: { $gt: 3 } }), ['a', 'd', 'e'], '$gt')
    t.same(await q({ n: { $gte: 3, $lt: 7 } }), ['a', 'c'], '$gte with $lt')
    t.same(await q({ n: { $lte: 3 } }), ['b', 'c'], '$lte')
    t.same(await q({ createdAt: { $lt: new Date(Date.UTC(2024, 0, 1) + 2500) } }), ['a', 'c'], '$lt on Dates')
    t.same(await q({ source: { $exists: true } }), ['a', 'b', 'c'], '$exists: true')
    t.same(await q({ source: { $exists: false } }), ['d', 'e'], '$exists: false')
    t.same(await q({ note: { $exists: true } }), ['d', 'e'], '$exists counts a null field as present')
    t.same(await q({ $or: [{ owner: 'u3' }, { n: { $lt: 2 } }] }), ['b', 'e'], '$or')
    t.same(await q({ $and: [{ owner: 'u2' }, { n: { $gt: 5 } }] }), ['d'], '$and')
    t.same(await q({ owner: 'u1', $or: [{ n: 1 }, { n: 9 }] }), ['b'], 'fields and $or together')
    t.same(await q({ title: { $regex: '^algebra', $options: 'i' } }), ['a', 'b'], '$regex string, case-insensitive')
    t.same(await q({ title: { $regex: '^algebra' } }), ['b'], '$regex string is case-sensitive without options')
    t.same(await q({ title: /^ALGEBRA/i }), ['a', 'b'], 'a RegExp value')
    t.same(await q({ title: { $regex: /istr/ } }), ['d'], '$regex with a RegExp')
    t.same(await q({ tags: 'math' }), ['a', 'b'], 'array membership by equality')
    t.same(await q({ tags: { $in: ['science', 'intro'] } }), ['a', 'c'], '$in on an array field')
    t.same(await q({ tags: { $ne: 'math' } }), ['c', 'd', 'e'], '$ne on an array field: no element equals (missing field included)')
    t.same(await q({ tags: { $nin: ['math', 'science'] } }), ['d', 'e'], '$nin on an array field')
    t.same(await q({ tags: ['math'] }), ['b'], 'an array value matches the whole array')
    t.same(await q({ note: null }), ['a', 'b', 'c', 'e'], 'null matches null and missing fields')
    t.same(await q({ note: { $ne: null } }), ['d'], '$ne null: present and not null')
    t.same(await q({ n: { $not: { $gt: 3 } } }), ['b', 'c'], 'field-level $not')
    t.same(await q({ title: { $not: /^algebra/i } }), ['c', 'd', 'e'], 'field-level $not with a RegExp')
    t.same(await q({ $nor: [{ owner: 'u1' }, { status: 'failed' }] }), ['c', 'e'], '$nor')
    t.same(await q({ status: { $in: [] } }), [], 'an empty $in matches nothing')
    t.equal(await c.countDocuments({ status: 'ready' }), 2, 'countDocuments with a filter')
  })

  t.test('updateOne: $set, $unset, $inc, $push, $pull and counts', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    t.same(await c.updateOne({ _id: 'a' }, { $set: { title: 'Algebra 1', status: 'processing' }, $inc: { n: 2 } }), { matchedCount: 1, modifiedCount: 1, upsertedCount: 0 })
    let a = await c.findOne({ _id: 'a' })
    t.equal(a?.title, 'Algebra 1')
    t.equal(a?.n, 7)
    t.same(await c.updateOne({ _id: 'a' }, { $set: { title: 'Algebra 1' } }), { matchedCount: 1, modifiedCount: 0, upsertedCount: 0 }, 'setting the current value modifies nothing')
    t.same(await c.updateOne({ _id: 'zz' }, { $set: { title: 'x' } }), { matchedCount: 0, modifiedCount: 0, upsertedCount: 0 }, 'no match')
    await c.updateOne({ _id: 'a' }, { $unset: { status: '' } })
    a = await c.findOne({ _id: 'a' })
    t.notOk(a !== null && 'status' in a, '$unset removes the field')
    await c.updateOne({ _id: 'a' }, { $push: { tags: 'algebra' } })
    await c.updateOne({ _id: 'a' }, { $pull: { tags: 'intro' } })
    t.same((await c.findOne({ _id: 'a' }))?.tags, ['math', 'algebra'], '$push appends, $pull removes')
    await c.updateOne({ _id: 'e' }, { $push: { tags: 'art' } })
    t.same((await c.findOne({ _id: 'e' }))?.tags, ['art'], '$push creates a missing array')
    await c.updateOne({ _id: 'e' }, { $push: { tags: { $each: ['ink', 'paper'] } } })
    t.same((await c.findOne({ _id: 'e' }))?.tags, ['art', 'ink', 'paper'], '$push with $each')
    await c.updateOne({ _id: 'e' }, { $inc: { views: 1 } as Record<string, number> })
    t.equal((await c.findOne({ _id: 'e' }) as unknown as { views: number }).views, 1, '$inc creates a missing counter')
    await c.updateOne({ _id: 'a' }, { $pull: { tags: 'math' } })
    t.same((await c.findOne({ _id: 'a' }))?.tags, ['algebra'], '$pull removes a value')
    await t.rejects(c.updateOne({ _id: 'a' }, { $pull: { tags: { $in: ['algebra'] } } }), /takes a value to remove/, '$pull with a condition is refused (FerretDB 1.x ignores it)')
    t.same((await c.findOne({ _id: 'a' }))?.tags, ['algebra'])
    const when = new Date(Date.UTC(2025, 5, 1, 12, 30, 15, 250))
    await c.updateOne({ _id: 'b' }, { $push: { history: { at: when, what: 'published' } } })
    const b = await c.findOne({ _id: 'b' })
    t.ok(b?.history?.[0]?.at instanceof Date, 'a pushed nested Date comes back as a Date')
    t.equal(b?.history?.[0]?.at.getTime(), when.getTime())
  })

  t.test('updateOne with upsert', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    t.same(await c.updateOne({ _id: 'k1', owner: 'u9' }, { $set: { title: 'New' }, $inc: { n: 1 } }, { upsert: true }), { matchedCount: 0, modifiedCount: 0, upsertedCount: 1 })
    t.same(await c.findOne({ _id: 'k1' }), { _id: 'k1', owner: 'u9', title: 'New', n: 1 }, 'the filter\'s equalities and the update make the new document')
    t.same(await c.updateOne({ _id: 'k1', owner: 'u9' }, { $inc: { n: 1 } }, { upsert: true }), { matchedCount: 1, modifiedCount: 1, upsertedCount: 0 }, 'then it updates')
    t.equal((await c.findOne({ _id: 'k1' }))?.n, 2)
    await c.updateOne({ owner: 'u8', status: { $in: ['ready'] } }, { $set: { title: 'Generated id' } }, { upsert: true })
    const generated = await c.findOne({ owner: 'u8' })
    t.equal(typeof generated?._id, 'string', 'an upsert without an _id gets a string id')
    t.match(generated?._id, ID_PATTERN, 'made by newId()')
    t.equal(generated?.title, 'Generated id')
    t.notOk(generated !== null && 'status' in generated, 'operator conditions are not copied into the new document')
  })

  t.test('updateMany', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    t.same(await c.updateMany({ owner: 'u2' }, { $set: { status: 'ready' } }), { matchedCount: 2, modifiedCount: 1, upsertedCount: 0 }, 'only changed documents count as modified')
    t.same(ids(await c.find({ status: 'ready' }, { sort: { _id: 1 } })), ['a', 'c', 'd'])
    t.same(await c.updateMany({ n: { $gte: 5 } }, { $inc: { n: 10 } }), { matchedCount: 3, modifiedCount: 3, upsertedCount: 0 })
    t.same((await c.find({}, { sort: { _id: 1 } })).map((d) => d.n), [15, 1, 3, 19, 17])
    t.same(await c.updateMany({ owner: 'none' }, { $set: { n: 0 } }), { matchedCount: 0, modifiedCount: 0, upsertedCount: 0 })
  })

  t.test('findOneAndUpdate: before/after, sort, upsert', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    const after = await c.findOneAndUpdate({ _id: 'c' }, { $inc: { n: 1 } })
    t.equal(after?.n, 4, 'returns the document after the update by default')
    const before = await c.findOneAndUpdate({ _id: 'c' }, { $inc: { n: 1 } }, { returnDocument: 'before' })
    t.equal(before?.n, 4, 'returnDocument: before')
    t.equal((await c.findOne({ _id: 'c' }))?.n, 5, 'and the update landed')
    t.equal(await c.findOneAndUpdate({ _id: 'nope' }, { $set: { n: 1 } }), null, 'no match is null')
    const oldest = await c.findOneAndUpdate({ status: { $in: ['ready', 'processing'] } }, { $set: { status: 'claimed' } }, { sort: { createdAt: 1 } })
    t.equal(oldest?._id, 'a', 'sort picks the oldest')
    const newest = await c.findOneAndUpdate({ status: { $in: ['ready', 'processing'] } }, { $set: { status: 'claimed' } }, { sort: { createdAt: -1 }, returnDocument: 'after' })
    t.equal(newest?._id, 'b', 'descending sort picks the newest')
    t.equal(newest?.status, 'claimed')
    const upserted = await c.findOneAndUpdate({ _id: 'z' }, { $set: { title: 'Zoology' } }, { upsert: true })
    t.same(upserted, { _id: 'z', title: 'Zoology' }, 'upsert returns the inserted document')
    const upsertedBefore = await c.findOneAndUpdate({ _id: 'y' }, { $set: { title: 'Yoga' } }, { upsert: true, returnDocument: 'before' })
    t.equal(upsertedBefore, null, 'an upsert that inserted has no document before')
    t.equal((await c.findOne({ _id: 'y' }))?.title, 'Yoga')
    const generated = await c.findOneAndUpdate({ owner: 'u7' }, { $set: { title: 'Generated' } }, { upsert: true })
    t.match(generated?._id, ID_PATTERN, 'an upsert without an _id gets a newId()')
  })

  t.test('concurrent findOneAndUpdate claims are atomic', async (t) => {
    const db = await open(t)
    const jobs = db.collection<QueuedJob>('jobs')
    const base = Date.UTC(2024, 5, 1)
    for (let i = 0; i < 5; i++) {
      await jobs.insertOne({ _id: `job${i}`, state: 'queued', owner: null, createdAt: new Date(base + (5 - i) * 1000) })
    }
    await jobs.insertOne({ _id: 'busy', state: 'running', owner: 'someone', createdAt: new Date(base) })
    const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => jobs.findOneAndUpdate(
      { state: 'queued' },
      { $set: { state: 'running', owner: `worker${i}` } },
      { sort: { createdAt: 1 } }
    )))
    const winners = claims.filter((c): c is QueuedJob => c !== null)
    t.equal(winners.length, 5, 'exactly five claims won')
    t.same(new Set(ids(winners)).size, 5, 'each job was claimed once')
    t.same([...ids(winners)].sort(), ['job0', 'job1', 'job2', 'job3', 'job4'])
    for (const winner of winners) {
      const stored = await jobs.findOne({ _id: winner._id })
      t.equal(stored?.owner, winner.owner, `${winner._id} is owned by the claim that got it`)
    }
    t.equal(await jobs.countDocuments({ state: 'queued' }), 0)
    t.equal((await jobs.findOne({ _id: 'busy' }))?.owner, 'someone', 'a running job was not taken')
  })

  t.test('deleteOne, deleteMany, countDocuments', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    t.equal(await c.countDocuments(), 5)
    t.equal(await c.deleteOne({ owner: 'u2' }), 1, 'deleteOne removes one of several matches')
    t.equal(await c.countDocuments({ owner: 'u2' }), 1)
    t.equal(await c.deleteOne({ owner: 'nobody' }), 0)
    t.equal(await c.deleteMany({ owner: { $in: ['u1', 'u2'] } }), 3)
    t.equal(await c.deleteMany({ owner: { $in: ['u1', 'u2'] } }), 0)
    t.same(ids(await c.find({})), ['e'])
    t.equal(await c.deleteMany({}), 1)
    t.equal(await c.countDocuments(), 0)
  })

  t.test('Dates round-trip as Dates', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    const at = new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 123))
    await c.insertOne({ _id: 'd1', title: 'Leap', at, history: [{ at: new Date(0), what: 'epoch' }] })
    const doc = await c.findOne({ at })
    t.ok(doc?.at instanceof Date, 'a top-level Date')
    t.equal(doc?.at?.getTime(), at.getTime(), 'to the millisecond')
    t.ok(doc?.history?.[0]?.at instanceof Date, 'a Date inside an array of objects')
    t.equal(doc?.history?.[0]?.at.getTime(), 0)
    const updated = await c.findOneAndUpdate({ _id: 'd1' }, { $set: { createdAt: new Date(at.getTime() + 1) } })
    t.ok(updated?.createdAt instanceof Date, 'a Date written by an update')
    t.equal(await c.countDocuments({ at: { $gte: at, $lt: new Date(at.getTime() + 1) } }), 1, 'Date ranges in filters')
  })

  t.test('anything outside the facade\'s subset is refused, on every backend', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    await t.rejects(c.find({ title: { $where: 'true' } }), /Unsupported query operator \$where/)
    await t.rejects(c.find({ $where: 'true' }), /Unsupported query operator \$where/)
    await t.rejects(c.countDocuments({ $or: [] }), /\$or needs a non-empty array/)
    await t.rejects(c.updateOne({ _id: 'a' }, {}), /at least one of/)
    await t.rejects(c.updateMany({}, { $rename: { n: 'm' } } as object), /Unsupported update operator \$rename/)
    await t.rejects(c.insertOne({ title: 'no id' } as Lecture), /string _id/)
    t.equal(await c.countDocuments(), 5, 'nothing was written')
  })

  t.test('a global or sticky RegExp matches every document it should', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await seed(c)
    // A g-flagged RegExp remembers lastIndex between test() calls; the filter must not.
    t.same(ids(await c.find({ title: /r/g }, { sort: { _id: 1 } })), ['a', 'b', 'd', 'e'])
    t.same(ids(await c.find({ title: { $regex: /^[ab]/gi } }, { sort: { _id: 1 } })), ['a', 'b', 'c'])
    t.equal(await c.countDocuments({ title: { $in: [/^a/gi, 'Drawing'] } }), 3, 'RegExps inside $in')
  })

  t.test('indexes: compound, and sparse unique', async (t) => {
    const db = await open(t)
    const c = db.collection<Lecture>('lectures')
    await c.createIndex({ owner: 1, createdAt: -1 })
    await c.createIndex({ email: 1 }, { unique: true, sparse: true })
    await c.insertOne({ _id: 'a', title: 'no email' })
    await c.insertOne({ _id: 'b', title: 'no email either' })
    await c.insertOne({ _id: 'c', title: 'with email', email: 'x@example.org' })
    await expectDuplicate(t, () => c.insertOne({ _id: 'd', title: 'same email', email: 'x@example.org' }), 'sparse unique still refuses duplicates')
    t.equal(await c.countDocuments(), 3, 'documents without the field do not collide')
  })
}
