import t from 'tap'
import { VideoSearchIndex, foldTerm, queryTerms, type SearchEntry } from '../../src/search/video-search-index.js'

let n = 0
const entry = (title: string, tags: string[] = [], description = '', createdAt = ++n): SearchEntry =>
  ({ id: `id${String(createdAt).padStart(4, '0')}`, owner: 'o', title, tags, description, duration: null, createdAt, updatedAt: createdAt })

t.test('folding and query terms', async (t) => {
  t.equal(foldTerm('Ÿçñ'), 'ycn')
  t.same(queryTerms('  Intro, to CAFÉ-culture! '), ['intro', 'to', 'cafe', 'culture'])
  t.same(queryTerms('   '), [])
})

t.test('ranking: title over tag over description, several words add up, recency breaks ties', async (t) => {
  const index = new VideoSearchIndex()
  const desc = entry('Alpha', [], 'about graphs')
  const tag = entry('Beta', ['graphs'])
  const title = entry('Graphs')
  const twoInDesc = entry('Gamma', [], 'graphs and trees')
  const titleAndTag = entry('Trees', ['graphs'])
  for (const e of [desc, tag, title, twoInDesc, titleAndTag]) index.upsert(e)
  const one = index.search({ q: 'graphs', tags: [], limit: 10 })
  t.same(one.hits.map((h) => [h.entry.title, h.relevance]), [['Graphs', 4], ['Trees', 2], ['Beta', 2], ['Gamma', 1], ['Alpha', 1]])
  const two = index.search({ q: 'graphs trees', tags: [], limit: 10 })
  t.same(two.hits.map((h) => [h.entry.title, h.relevance]), [['Trees', 6], ['Graphs', 4], ['Gamma', 2], ['Beta', 2], ['Alpha', 1]])
})

t.test('upsert replaces, remove drops, and the index stays consistent over many changes', async (t) => {
  const index = new VideoSearchIndex()
  const e = entry('Original words')
  index.upsert(e)
  index.upsert({ ...e, title: 'Replacement words', updatedAt: e.updatedAt + 1 })
  t.same(index.search({ q: 'original', tags: [], limit: 10 }).hits, [])
  t.equal(index.search({ q: 'replacement', tags: [], limit: 10 }).hits.length, 1)
  t.equal(index.size, 1)
  t.equal(index.remove(e.id), true)
  t.equal(index.remove(e.id), false)
  t.equal(index.search({ q: 'words', tags: [], limit: 10 }).hits.length, 0)
  // churn past the auto-vacuum threshold
  const many = Array.from({ length: 600 }, (_, i) => entry(`churn ${i}`))
  for (const m of many) index.upsert(m)
  for (const m of many.slice(0, 500)) index.remove(m.id)
  t.equal(index.search({ q: 'churn', tags: [], limit: 1000 }).hits.length, 100)
})

t.test('cursor pages cover every hit once, in order', async (t) => {
  const index = new VideoSearchIndex()
  // equal relevance and equal times: the id decides
  for (let i = 0; i < 25; i++) index.upsert({ ...entry(`topic ${i}`), createdAt: 1000 + (i % 3) })
  const all = index.search({ q: 'topic', tags: [], limit: 100 }).hits.map((h) => h.entry.id)
  const paged: string[] = []
  let after
  for (let guard = 0; guard < 20; guard++) {
    const page = index.search({ q: 'topic', tags: [], limit: 4, after })
    paged.push(...page.hits.map((h) => h.entry.id))
    if (page.next === undefined) break
    after = page.next
  }
  t.same(paged, all)
  t.equal(new Set(paged).size, 25)
})

t.test('the last word is a prefix while it is being typed, and whole once followed by a space', async (t) => {
  const index = new VideoSearchIndex()
  index.upsert(entry('Introduction to sets'))
  index.upsert(entry('Intro music'))
  const titles = (q: string) => index.search({ q, tags: [], limit: 10 }).hits.map((h) => h.entry.title)
  t.same(titles('intro'), ['Intro music', 'Introduction to sets'])
  t.same(titles('intro '), ['Intro music'])
  t.same(titles('INTRO, '), ['Intro music'])
  t.same(titles('to intro'), ['Introduction to sets', 'Intro music'], 'two words matched outrank one')
  t.same(titles('zzz'), [])
})
