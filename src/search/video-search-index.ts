import { createHash } from 'node:crypto'
import MiniSearch from 'minisearch'
import type { Video } from '../db/documents.js'

/** What the index keeps of a video: enough to rank, filter and show a result without a database read. */
export interface SearchEntry {
  id: string
  owner: string
  title: string
  description: string
  tags: string[]
  duration: number | null
  createdAt: number
  updatedAt: number
}

export interface SearchHit {
  entry: SearchEntry
  /** Sum over query terms of the weight of the best field each matched; 0 for a query without terms. */
  relevance: number
}

/** A place in the result order, carried by a cursor; bound to one query by its hash. */
export interface SearchPosition {
  relevance: number
  createdAt: number
  id: string
  query: string
}

export interface SearchQuery {
  q: string
  tags: string[]
  limit: number
  after?: SearchPosition
}

export interface SearchPage {
  hits: SearchHit[]
  /** Position of the last hit when more follow. */
  next: SearchPosition | undefined
  /** The hash a cursor for this query must carry. */
  query: string
}

/** A title match outranks a tag match, which outranks a description match. */
export const FIELD_WEIGHTS = { title: 4, tags: 2, description: 1 } as const
type Field = keyof typeof FIELD_WEIGHTS
const FIELDS = Object.keys(FIELD_WEIGHTS) as Field[]

/** Case and accents folded: `Éclair`, `eclair` and `ECLAIR` are one term. */
export function foldTerm (term: string): string {
  return term.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
}

const tokenize = MiniSearch.getDefault('tokenize') as (text: string) => string[]

/** The folded terms of a query, in order. */
export function queryTerms (q: string): string[] {
  return tokenize(q).map(foldTerm).filter((t) => t !== '')
}

/** Is the video one that search shows (public and ready)? */
export function isSearchable (video: Pick<Video, 'visibility' | 'status'>): boolean {
  return video.visibility === 'public' && video.status === 'ready'
}

export function toSearchEntry (video: Video): SearchEntry {
  return {
    id: video._id,
    owner: video.owner,
    title: video.title,
    description: video.description,
    tags: video.tags,
    duration: video.duration,
    createdAt: video.createdAt.getTime(),
    updatedAt: video.updatedAt.getTime()
  }
}

/** Total order of results: relevance, then newest, then id (so equal times never tie). */
function compareHits (a: { relevance: number, createdAt: number, id: string }, b: { relevance: number, createdAt: number, id: string }): number {
  if (a.relevance !== b.relevance) return b.relevance - a.relevance
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

/**
 * An in-process full-text index over searchable videos (MiniSearch: a radix tree per field, so a
 * prefix lookup for type-ahead costs little). Each API node holds its own; SearchIndexSync keeps
 * it in step with the database.
 */
export class VideoSearchIndex {
  readonly #mini = new MiniSearch<SearchEntry>({
    idField: 'id',
    fields: FIELDS,
    extractField: (entry, field) => field === 'tags' ? entry.tags.join(' ') : (entry as unknown as Record<string, unknown>)[field],
    processTerm: (term) => foldTerm(term) || null,
    autoVacuum: { minDirtCount: 200, minDirtFactor: 0.1, batchSize: 1000, batchWait: 10 }
  })

  readonly #entries = new Map<string, SearchEntry>()

  get size (): number {
    return this.#entries.size
  }

  get (id: string): SearchEntry | undefined {
    return this.#entries.get(id)
  }

  ids (): IterableIterator<string> {
    return this.#entries.keys()
  }

  /** Adds or replaces an entry. */
  upsert (entry: SearchEntry): void {
    const old = this.#entries.get(entry.id)
    if (old !== undefined) {
      if (old.updatedAt === entry.updatedAt && old.title === entry.title && old.description === entry.description &&
        old.tags.join('\n') === entry.tags.join('\n')) {
        this.#entries.set(entry.id, entry)
        return
      }
      this.#mini.discard(entry.id)
    }
    this.#entries.set(entry.id, entry)
    this.#mini.add(entry)
  }

  remove (id: string): boolean {
    if (!this.#entries.delete(id)) return false
    this.#mini.discard(id)
    return true
  }

  /** Applies one video as read from the database: indexed if searchable, dropped otherwise. */
  apply (video: Video): void {
    if (isSearchable(video)) this.upsert(toSearchEntry(video))
    else this.remove(video._id)
  }

  search (query: SearchQuery): SearchPage {
    const terms = queryTerms(query.q)
    const tags = [...new Set(query.tags.map((t) => foldTerm(t.trim())).filter((t) => t !== ''))]
    const hash = createHash('sha256').update(JSON.stringify([terms, [...tags].sort()])).digest('base64url').slice(0, 12)

    let candidates: Array<{ entry: SearchEntry, relevance: number }>
    if (terms.length === 0) {
      candidates = [...this.#entries.values()].map((entry) => ({ entry, relevance: 0 }))
    } else {
      const relevance = new Map<string, number>()
      terms.forEach((term, i) => {
        // The last word is still being typed: it also matches as a prefix.
        const results = this.#mini.search(term, { prefix: i === terms.length - 1, combineWith: 'OR' })
        for (const result of results) {
          let best = 0
          for (const fields of Object.values(result.match)) {
            for (const field of fields) best = Math.max(best, FIELD_WEIGHTS[field as Field] ?? 0)
          }
          relevance.set(result.id as string, (relevance.get(result.id as string) ?? 0) + best)
        }
      })
      candidates = []
      for (const [id, score] of relevance) {
        const entry = this.#entries.get(id)
        if (entry !== undefined) candidates.push({ entry, relevance: score })
      }
    }

    if (tags.length > 0) {
      candidates = candidates.filter(({ entry }) => {
        const own = new Set(entry.tags.map(foldTerm))
        return tags.every((t) => own.has(t))
      })
    }

    const key = (c: { entry: SearchEntry, relevance: number }) => ({ relevance: c.relevance, createdAt: c.entry.createdAt, id: c.entry.id })
    const after = query.after
    if (after !== undefined) candidates = candidates.filter((c) => compareHits(key(c), after) > 0)

    // Only the page is needed in order: a partial selection would be faster still, but a full
    // sort of the matches is a few milliseconds at 10,000 videos (see test/bench/search.bench.ts).
    candidates.sort((a, b) => compareHits(key(a), key(b)))
    const page = candidates.slice(0, query.limit)
    const last = page[page.length - 1]
    const next = candidates.length > query.limit && last !== undefined ? { ...key(last), query: hash } : undefined
    return { hits: page, next, query: hash }
  }
}
