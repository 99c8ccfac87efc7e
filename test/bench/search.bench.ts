import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { pino } from 'pino'
import { VideoSearchIndex, foldTerm, queryTerms, FIELD_WEIGHTS, type SearchEntry } from '../../src/search/video-search-index.js'
import { openEmbeddedDatabase } from '../../src/db/embedded-database.js'
import type { Video } from '../../src/db/documents.js'
import { newVideoDocument } from '../../src/db/video-repository.js'
import { formatBenchResult, type BenchResult } from './bench-result.js'

// Search over 10,000 synthetic videos: the in-process index against two references run here on
// the same data, the naive scan (every document checked per query) and the embedded store's $regex.

const VIDEOS = 10_000
const QUERIES_PER_KIND = 400
const REGEX_QUERIES = 40

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** A deterministic pseudo-random stream (mulberry32), so each run measures the same corpus. */
function rng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const random = rng(42)
const syllables = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'xe', 'zu', 'bra', 'cle', 'dro', 'fri', 'glo', 'pré', 'thé', 'sio', 'nal', 'ment']
const word = () => Array.from({ length: 2 + Math.floor(random() * 3) }, () => syllables[Math.floor(random() * syllables.length)]).join('')
const vocabulary = Array.from({ length: 3000 }, word)
// Zipf-like: a few words are very common, most are rare, as in real titles.
const pick = () => vocabulary[Math.floor(vocabulary.length * random() ** 3)]!
const tagPool = Array.from({ length: 200 }, word)
const pickTag = () => tagPool[Math.floor(tagPool.length * random() ** 2)]!

function corpus (): SearchEntry[] {
  return Array.from({ length: VIDEOS }, (_, i) => ({
    id: String(i).padStart(20, '0'),
    owner: 'bench',
    title: Array.from({ length: 3 + Math.floor(random() * 6) }, pick).join(' '),
    description: Array.from({ length: 20 + Math.floor(random() * 60) }, pick).join(' '),
    tags: [...new Set(Array.from({ length: 1 + Math.floor(random() * 5) }, pickTag))],
    duration: 60 + Math.floor(random() * 3600),
    createdAt: 1_700_000_000_000 + i * 60_000,
    updatedAt: 1_700_000_000_000 + i * 60_000
  }))
}

interface Query { q: string, tags: string[] }
const kinds: Record<string, () => Query> = {
  'one common word': () => ({ q: vocabulary[Math.floor(random() * 20)]!, tags: [] }),
  'one rare word': () => ({ q: vocabulary[1000 + Math.floor(random() * 2000)]!, tags: [] }),
  'two words': () => ({ q: `${pick()} ${pick()}`, tags: [] }),
  'type-ahead (prefix)': () => ({ q: `${pick()} ${pick().slice(0, 3)}`, tags: [] }),
  'word + tag filter': () => ({ q: pick(), tags: [pickTag()] }),
  'no words, tag only': () => ({ q: '', tags: [pickTag()] })
}

interface Folded { entry: SearchEntry, title: string[], tags: string[], description: string[], tagSet: Set<string> }

/** The naive way: every document tokenised once up front, then every query scans them all. */
function fold (entries: SearchEntry[]): Folded[] {
  return entries.map((e) => ({ entry: e, title: queryTerms(e.title), tags: queryTerms(e.tags.join(' ')), description: queryTerms(e.description), tagSet: new Set(e.tags.map(foldTerm)) }))
}

function naiveSearch (docs: Folded[], query: Query, limit: number): string[] {
  const terms = queryTerms(query.q)
  const tags = query.tags.map(foldTerm)
  const hits: Array<{ id: string, relevance: number, createdAt: number }> = []
  for (const d of docs) {
    if (tags.length > 0 && !tags.every((t) => d.tagSet.has(t))) continue
    let relevance = 0
    terms.forEach((term, i) => {
      const matches = (w: string) => (i === terms.length - 1 ? w.startsWith(term) : w === term)
      let best = 0
      for (const f of ['title', 'tags', 'description'] as const) if (d[f].some(matches)) best = Math.max(best, FIELD_WEIGHTS[f])
      relevance += best
    })
    if (terms.length > 0 && relevance === 0) continue
    hits.push({ id: d.entry.id, relevance, createdAt: d.entry.createdAt })
  }
  hits.sort((a, b) => b.relevance - a.relevance || b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
  return hits.slice(0, limit).map((h) => h.id)
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

function time (fn: () => unknown): number {
  const start = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - start) / 1e6
}

export async function run (): Promise<BenchResult> {
  const entries = corpus()
  const folded = fold(entries)
  gc()
  const before = process.memoryUsage().heapUsed
  const index = new VideoSearchIndex()
  const buildMs = time(() => { for (const e of entries) index.upsert(e) })
  gc()
  const indexBytes = process.memoryUsage().heapUsed - before
  // The entries themselves are shared with the corpus array; count what the index adds.
  process.stderr.write(`  index built: ${VIDEOS} videos in ${buildMs.toFixed(0)} ms\n`)

  const rows: Array<Record<string, string | number>> = []
  const lines: string[] = []
  const allIndex: number[] = []
  const allNaive: number[] = []
  for (const [kind, make] of Object.entries(kinds)) {
    const queries = Array.from({ length: QUERIES_PER_KIND }, make)
    // Same answers both ways, or the comparison means nothing.
    for (const q of queries.slice(0, 20)) {
      const a = index.search({ ...q, limit: 20 }).hits.map((h) => h.entry.id)
      const b = naiveSearch(folded, q, 20)
      if (a.join() !== b.join()) throw new Error(`index and naive scan disagree on ${JSON.stringify(q)}`)
    }
    for (const q of queries.slice(0, 50)) index.search({ ...q, limit: 20 })
    const t = queries.map((q) => time(() => index.search({ ...q, limit: 20 }))).sort((x, y) => x - y)
    const naive = queries.slice(0, 40).map((q) => time(() => naiveSearch(folded, q, 20))).sort((x, y) => x - y)
    allIndex.push(...t)
    allNaive.push(...naive)
    rows.push({ queries: kind, 'median ms': percentile(t, 0.5), 'p95 ms': percentile(t, 0.95), 'naive median ms': percentile(naive, 0.5), 'naive/index': percentile(naive, 0.5) / percentile(t, 0.5) })
    process.stderr.write(`  measured ${kind}\n`)
  }
  allIndex.sort((x, y) => x - y)
  allNaive.sort((x, y) => x - y)

  // The database way: a case-insensitive $regex over title, tags and description in the embedded
  // store (no ranking, no accent folding: it does less, and still costs more).
  const dir = await mkdtemp(join(tmpdir(), 'lectern-search-bench-'))
  let regexMedian = NaN
  try {
    const db = await openEmbeddedDatabase({ dir, log: pino({ level: 'silent' }) })
    const videos = db.collection<Video>('videos')
    for (const e of entries) {
      await videos.insertOne({
        ...newVideoDocument({ id: e.id, owner: e.owner, title: e.title, description: e.description, tags: e.tags, visibility: 'public', originalSize: 1, originalName: null }, new Date(e.createdAt)),
        status: 'ready'
      })
    }
    const regexTimes: number[] = []
    for (let i = 0; i < REGEX_QUERIES; i++) {
      const w = pick()
      const start = process.hrtime.bigint()
      const re = { $regex: new RegExp(`\\b${w}`, 'i') }
      await videos.find({ visibility: 'public', status: 'ready', $or: [{ title: re }, { tags: re }, { description: re }] }, { sort: { createdAt: -1 }, limit: 20 })
      regexTimes.push(Number(process.hrtime.bigint() - start) / 1e6)
    }
    regexTimes.sort((x, y) => x - y)
    regexMedian = percentile(regexTimes, 0.5)
    await db.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }

  lines.push(
    `all queries: median ${percentile(allIndex, 0.5).toFixed(3)} ms, p95 ${percentile(allIndex, 0.95).toFixed(3)} ms (${allIndex.length} queries, 20 results each)`,
    `index: built in ${buildMs.toFixed(0)} ms, about ${(indexBytes / 1024 / 1024).toFixed(1)} MiB of heap for ${VIDEOS.toLocaleString('en-US')} videos (${Math.round(indexBytes / VIDEOS)} bytes per video)`,
    `reference, naive scan of the same videos: median ${percentile(allNaive, 0.5).toFixed(1)} ms, ${(percentile(allNaive, 0.5) / percentile(allIndex, 0.5)).toFixed(0)}x the index`,
    `reference, embedded store $regex on one word (unranked, no folding): median ${regexMedian.toFixed(1)} ms, ${(regexMedian / percentile(allIndex, 0.5)).toFixed(0)}x the index`
  )
  return { name: `search over ${VIDEOS.toLocaleString('en-US')} synthetic videos`, rows, lines }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(formatBenchResult(await run()) + '\n')
}
