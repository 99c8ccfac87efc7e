import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { testConfig } from '../helpers/config.js'
import { requireMongoServer, startMongoServer } from '../helpers/ferretdb-server.js'
import { buildApp } from '../../src/app.js'
import { openDatabase } from '../../src/db/open-database.js'
import { insertVideo, newVideoDocument } from '../../src/db/video-repository.js'
import type { Video, VideoStatus, Visibility } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { registerAccount } from './accounts.js'

interface Seed {
  title: string
  tags?: string[]
  description?: string
  visibility?: Visibility
  status?: VideoStatus
  /** minutes before now */
  age: number
}

/** Videos as the transcoder leaves them: written straight to the store, as another node would. */
async function seed (app: FastifyInstance, seeds: Seed[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>()
  for (const s of seeds) {
    const at = new Date(Date.now() - s.age * 60_000)
    const video: Video = {
      ...newVideoDocument({ id: newId(), owner: 'ownerownerownerowner', title: s.title, description: s.description ?? '', tags: s.tags ?? [], visibility: s.visibility ?? 'public', originalSize: 1, originalName: null }, at),
      status: s.status ?? 'ready',
      duration: 60,
      // made ready just now, as the transcoder stamps it
      updatedAt: new Date()
    }
    await insertVideo(app.db, video)
    ids.set(s.title, video._id)
  }
  await app.searchIndex.reconcile()
  return ids
}

const search = async (app: FastifyInstance, query: string) => {
  const res = await app.inject({ url: `/api/search?${query}` })
  return { status: res.statusCode, body: res.json() }
}
const titles = (body: { items: Array<{ title: string }> }) => body.items.map((i) => i.title)

const corpus: Seed[] = [
  { title: 'Thermodynamics lecture 1', tags: ['physics'], description: 'heat and entropy', age: 50 },
  { title: 'Cooking with heat', tags: ['kitchen'], description: 'recipes', age: 40 },
  { title: 'Engines', tags: ['heat', 'physics'], description: 'cycles', age: 30 },
  { title: 'Stars', tags: ['astronomy'], description: 'how heat moves in a star', age: 20 },
  { title: 'Heat death of the universe', tags: ['physics', 'cosmology'], description: '', age: 10 },
  { title: 'Introduction to Python', tags: ['programming'], description: 'a first course', age: 5 },
  { title: 'Économie générale', tags: ['Économie'], description: 'marchés', age: 3 },
  { title: 'Private heat', tags: [], description: '', visibility: 'private', age: 1 },
  { title: 'Unlisted heat', tags: [], description: '', visibility: 'unlisted', age: 1 },
  { title: 'Heat still processing', tags: [], description: '', status: 'processing', age: 1 },
  { title: 'Heat that failed', tags: [], description: '', status: 'failed', age: 1 }
]

async function searchScenario (t: Test, app: FastifyInstance): Promise<unknown[]> {
  await seed(app, corpus)
  const results: unknown[] = []

  const heat = await search(app, 'q=heat')
  t.equal(heat.status, 200)
  t.same(titles(heat.body), ['Heat death of the universe', 'Cooking with heat', 'Engines', 'Stars', 'Thermodynamics lecture 1'],
    'title matches (newest first), then the tag match, then description matches (newest first); private, unlisted and unready videos never')
  t.same(heat.body.items.map((i: { relevance: number }) => i.relevance), [4, 4, 2, 1, 1])
  results.push(heat.body)

  const prefix = await search(app, 'q=intro')
  t.same(titles(prefix.body), ['Introduction to Python'], 'the last word matches as a prefix')
  t.same(titles((await search(app, 'q=intro%20course')).body), ['Introduction to Python'])
  t.same(titles((await search(app, 'q=intro%20python')).body), ['Introduction to Python'], 'earlier words match whole, the last as a prefix')
  t.same(titles((await search(app, 'q=pyth%20intro')).body), ['Introduction to Python'], 'only the last word is a prefix: "pyth" adds nothing, "intro" matches')
  t.same(titles((await search(app, 'q=pyth%20zzz')).body), [], 'a non-final partial word does not match')

  t.same(titles((await search(app, 'q=ECONOMIE')).body), ['Économie générale'], 'case and accents folded')
  t.same(titles((await search(app, 'q=generale')).body), ['Économie générale'])
  t.same(titles((await search(app, 'q=&tags=economie')).body), ['Économie générale'], 'tags fold too')

  const tagged = await search(app, 'q=heat&tags=physics')
  t.same(titles(tagged.body), ['Heat death of the universe', 'Engines', 'Thermodynamics lecture 1'], 'tags filter')
  t.same(titles((await search(app, 'q=heat&tags=physics,cosmology')).body), ['Heat death of the universe'], 'every tag must match (comma list)')
  t.same(titles((await search(app, 'q=heat&tags=physics&tags=cosmology')).body), ['Heat death of the universe'], 'every tag must match (repeated)')
  results.push(tagged.body)

  const all = await search(app, '')
  t.same(titles(all.body), ['Économie générale', 'Introduction to Python', 'Heat death of the universe', 'Stars', 'Engines', 'Cooking with heat', 'Thermodynamics lecture 1'],
    'no words: every searchable video, newest first')

  // Paging: stable, every result once.
  const pages: string[][] = []
  let cursor: string | null = null
  do {
    const page = await search(app, `q=heat&limit=2${cursor !== null ? `&cursor=${cursor}` : ''}`)
    t.equal(page.status, 200)
    pages.push(titles(page.body))
    cursor = page.body.nextCursor
  } while (cursor !== null && pages.length < 10)
  t.same(pages, [['Heat death of the universe', 'Cooking with heat'], ['Engines', 'Stars'], ['Thermodynamics lecture 1']])
  results.push(pages)

  // A video published between two page fetches lands in its place and does not shift the pages after the cursor.
  const first = await search(app, 'q=heat&limit=2')
  await seed(app, [{ title: 'Heat transfer basics', age: 0 }])
  const second = await search(app, `q=heat&limit=2&cursor=${first.body.nextCursor}`)
  t.same(titles(second.body), ['Engines', 'Stars'], 'the next page is unchanged by a newer video ranked before the cursor')

  const bad: Array<[string, RegExp]> = [
    ['limit=0', /querystring\.limit: must be at least 1/],
    ['limit=101', /querystring\.limit: must be at most 100/],
    ['limit=ten', /querystring\.limit: /],
    [`q=${'x'.repeat(201)}`, /querystring\.q: must be at most 200 characters/],
    ['cursor=nonsense', /^cursor: is not a cursor this endpoint gave out/],
    [`q=stars&cursor=${first.body.nextCursor}`, /^cursor: belongs to a different query/]
  ]
  for (const [query, message] of bad) {
    const res = await search(app, query)
    t.equal(res.status, 400, query.slice(0, 40))
    t.match(res.body.message, message)
  }
  return results
}

t.test('search on the embedded store', async (t) => {
  const { app } = await buildTestApp(t)
  await searchScenario(t, app)
})

t.test('search gives the same results on MongoDB', async (t) => {
  if (!requireMongoServer(t)) return
  const server = await startMongoServer(t)
  const { app: embedded } = await buildTestApp(t)
  const { app: mongo } = await buildTestApp(t, { MONGODB_URL: server.freshUrl() })
  t.equal(mongo.db.kind, 'mongodb')
  // Each store runs the whole scenario (its own assertions), then the two stores' answers are
  // compared with each other: a ranking both got wrong the same way is caught above, one that
  // differs between them here.
  let onEmbedded: unknown[] = []
  let onMongo: unknown[] = []
  await t.test('embedded', async (t) => { onEmbedded = await searchScenario(t, embedded) })
  await t.test('mongodb', async (t) => { onMongo = await searchScenario(t, mongo) })
  const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (k, x) => (k === 'id' || k === 'createdAt' || k === 'nextCursor' ? undefined : x)))
  const [r1, r2] = await Promise.all([search(embedded, 'q=heat&tags=physics'), search(mongo, 'q=heat&tags=physics')])
  t.equal(onMongo.length, onEmbedded.length, 'both scenarios ran to the end')
  t.ok(onEmbedded.length > 0, 'the scenario returned its answers')
  t.same(strip(onMongo), strip(onEmbedded), 'every answer of the scenario is the same on both stores')
  t.same(strip(r2.body), strip(r1.body), 'identical ranking and fields on both stores')
})

t.test('a change on one API node is searchable on another within a few seconds', async (t) => {
  const config = await testConfig(t)
  const db = await openDatabase(config, (await import('pino')).default({ level: 'silent' }))
  t.teardown(() => db.close())
  const nodeA = await buildApp(config, { logger: false, db })
  t.teardown(() => nodeA.close())
  const nodeB = await buildApp(config, { logger: false, db })
  t.teardown(() => nodeB.close())

  const owner = await registerAccount(nodeA)
  const ids = await seed(nodeA, [{ title: 'Wave mechanics', tags: ['physics'], age: 5 }])
  const id = ids.get('Wave mechanics')!
  const onB = async (q: string) => titles((await search(nodeB, `q=${q}`)).body)
  const within = async (check: () => Promise<boolean>, ms = 6000) => {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      if (await check()) return true
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return false
  }

  t.ok(await within(async () => (await onB('wave')).length === 1), 'a video made ready elsewhere appears on node B')

  // Node A's own index follows its own change at once; node B within the poll interval.
  await nodeA.db.collection<Video>('videos').updateOne({ _id: id }, { $set: { owner: owner.id } })
  const patch = await nodeA.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: owner.auth, payload: { title: 'Quantum waves' } })
  t.equal(patch.statusCode, 200)
  t.same(titles((await search(nodeA, 'q=quantum')).body), ['Quantum waves'], 'at once on the node that made the change')
  t.ok(await within(async () => (await onB('quantum')).length === 1 && (await onB('mechanics')).length === 0), 'a rename reaches node B')

  await nodeA.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: owner.auth, payload: { visibility: 'private' } })
  t.ok(await within(async () => (await onB('quantum')).length === 0), 'made private: gone from node B')
  await nodeA.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: owner.auth, payload: { visibility: 'public' } })
  t.ok(await within(async () => (await onB('quantum')).length === 1), 'public again: back on node B')

  const del = await nodeA.inject({ method: 'DELETE', url: `/api/videos/${id}`, headers: owner.auth })
  t.equal(del.statusCode, 204)
  t.same(await titles((await search(nodeA, 'q=quantum')).body), [], 'deleted: gone from node A at once')
  t.ok(await within(async () => (await onB('quantum')).length === 0), 'deleted: gone from node B')
})
