import { createHash } from 'node:crypto'
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
  /** caption cues of every language, plain text, by start time (empty without captions) */
  cues?: IndexedCue[]
  /** the stored caption files the cues were read from, to tell when they change */
  captionKeys?: string
}

/** A caption cue as search keeps it: seconds and plain text. */
export interface IndexedCue {
  start: number
  end: number
  text: string
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

/** A title match outranks a tag match, which outranks a description match, which outranks a caption match. */
export const FIELD_WEIGHTS = { title: 4, tags: 2, description: 1, captions: 0.5 } as const

/** Case and accents folded: `Éclair`, `eclair` and `ECLAIR` are one term. */
export function foldTerm (term: string): string {
  return term.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
}

const SEPARATORS = /[\n\r\p{Z}\p{P}]+/u

/** The folded terms of a text, in order. */
export function queryTerms (q: string): string[] {
  return q.split(SEPARATORS).map(foldTerm).filter((t) => t !== '')
}

/** Is the video one that search shows (public and ready)? */
export function isSearchable (video: Pick<Video, 'visibility' | 'status'>): boolean {
  return video.visibility === 'public' && video.status === 'ready'
}

/** The storage keys of a video's caption files, as one string that changes when any of them does. */
export function captionKeysOf (video: Pick<Video, 'captions'>): string {
  return (video.captions ?? []).map((c) => c.key).sort().join('\n')
}

export function toSearchEntry (video: Video, cues: IndexedCue[] = []): SearchEntry {
  return {
    id: video._id,
    owner: video.owner,
    title: video.title,
    description: video.description,
    tags: video.tags,
    duration: video.duration,
    createdAt: new Date(video.createdAt).getTime(),
    updatedAt: new Date(video.updatedAt).getTime(),
    cues,
    captionKeys: captionKeysOf(video)
  }
}

interface Key { relevance: number, createdAt: number, id: string }

/** Total order of results: relevance, then newest, then id (so equal times never tie). */
function compareKeys (a: Key, b: Key): number {
  if (a.relevance !== b.relevance) return b.relevance - a.relevance
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

/** The videos holding one term, each with the weight of the best field it occurs in. */
interface Posting {
  term: string
  slots: Map<number, number>
}

interface Stored {
  entry: SearchEntry
  slot: number
  /** the postings this entry is in (references, so the term strings are held once) */
  postings: Posting[]
  tags: string[]
}

/**
 * An in-process inverted index over searchable videos. Each term maps to the videos holding it
 * and the weight of the best field it occurs in, which is all the ranking needs; a sorted term
 * list answers the prefix lookup of type-ahead with two binary searches. Each API node holds its
 * own index; SearchIndexSync keeps it in step with the database.
 */
export class VideoSearchIndex {
  readonly #entries = new Map<string, Stored>()
  readonly #slots: Array<Stored | undefined> = []
  readonly #freeSlots: number[] = []
  readonly #postings = new Map<string, Posting>()
  readonly #byTag = new Map<string, Set<number>>()
  /** All terms, sorted; rebuilt on the first search after the term set changed. */
  #sortedTerms: string[] | null = []

  get size (): number {
    return this.#entries.size
  }

  get (id: string): SearchEntry | undefined {
    return this.#entries.get(id)?.entry
  }

  ids (): IterableIterator<string> {
    return this.#entries.keys()
  }

  /** Adds or replaces an entry. */
  upsert (entry: SearchEntry): void {
    const old = this.#entries.get(entry.id)
    if (old !== undefined) {
      if (old.entry.title === entry.title && old.entry.description === entry.description &&
        old.entry.tags.join('\n') === entry.tags.join('\n') && (old.entry.captionKeys ?? '') === (entry.captionKeys ?? '')) {
        old.entry = entry
        return
      }
      this.remove(entry.id)
    }
    const terms = new Map<string, number>()
    const addField = (text: string, weight: number) => {
      for (const term of queryTerms(text)) {
        if ((terms.get(term) ?? 0) < weight) terms.set(term, weight)
      }
    }
    addField(entry.title, FIELD_WEIGHTS.title)
    addField(entry.tags.join(' '), FIELD_WEIGHTS.tags)
    addField(entry.description, FIELD_WEIGHTS.description)
    for (const cue of entry.cues ?? []) addField(cue.text, FIELD_WEIGHTS.captions)
    const tags = [...new Set(entry.tags.map((t) => foldTerm(t.trim())))]
    const slot = this.#freeSlots.pop() ?? this.#slots.length
    const stored: Stored = { entry, slot, postings: [], tags }
    this.#slots[slot] = stored
    this.#entries.set(entry.id, stored)
    for (const [term, weight] of terms) {
      let posting = this.#postings.get(term)
      if (posting === undefined) {
        posting = { term, slots: new Map() }
        this.#postings.set(term, posting)
        this.#sortedTerms = null
      }
      posting.slots.set(slot, weight)
      stored.postings.push(posting)
    }
    for (const tag of tags) {
      let set = this.#byTag.get(tag)
      if (set === undefined) this.#byTag.set(tag, set = new Set())
      set.add(slot)
    }
  }

  remove (id: string): boolean {
    const stored = this.#entries.get(id)
    if (stored === undefined) return false
    this.#entries.delete(id)
    for (const posting of stored.postings) {
      posting.slots.delete(stored.slot)
      if (posting.slots.size === 0) {
        this.#postings.delete(posting.term)
        this.#sortedTerms = null
      }
    }
    for (const tag of stored.tags) {
      const set = this.#byTag.get(tag)!
      set.delete(stored.slot)
      if (set.size === 0) this.#byTag.delete(tag)
    }
    this.#slots[stored.slot] = undefined
    this.#freeSlots.push(stored.slot)
    return true
  }

  /** Applies one video as read from the database (with its caption cues): indexed if searchable, dropped otherwise. */
  apply (video: Video, cues: IndexedCue[] = []): void {
    if (isSearchable(video)) this.upsert(toSearchEntry(video, cues))
    else this.remove(video._id)
  }

  /** Every indexed term starting with prefix. */
  #termsWithPrefix (prefix: string): string[] {
    this.#sortedTerms ??= [...this.#postings.keys()].sort()
    const terms = this.#sortedTerms
    let lo = 0
    let hi = terms.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (terms[mid]! < prefix) lo = mid + 1
      else hi = mid
    }
    const out: string[] = []
    for (let i = lo; i < terms.length && terms[i]!.startsWith(prefix); i++) out.push(terms[i]!)
    return out
  }

  /** slot -> best weight of one query term (as a prefix: the best over every term it starts). */
  #match (term: string, prefix: boolean): Map<number, number> {
    if (!prefix) return this.#postings.get(term)?.slots ?? new Map()
    const expanded = this.#termsWithPrefix(term)
    if (expanded.length === 1) return this.#postings.get(expanded[0]!)!.slots
    const best = new Map<number, number>()
    for (const t of expanded) {
      for (const [slot, weight] of this.#postings.get(t)!.slots) {
        if ((best.get(slot) ?? 0) < weight) best.set(slot, weight)
      }
    }
    return best
  }

  search (query: SearchQuery): SearchPage {
    const terms = queryTerms(query.q)
    // The last word is still being typed, unless the query ends with a space or punctuation.
    const lastIsPrefix = !/[\s\p{P}]$/u.test(query.q)
    const tags = [...new Set(query.tags.map((t) => foldTerm(t.trim())).filter((t) => t !== ''))]
    const hash = createHash('sha256').update(JSON.stringify([terms, lastIsPrefix, [...tags].sort()])).digest('base64url').slice(0, 12)

    // Slots allowed by the tag filter (null: no filter).
    let allowed: Set<number> | null = null
    if (tags.length > 0) {
      const sets = tags.map((t) => this.#byTag.get(t) ?? new Set<number>()).sort((a, b) => a.size - b.size)
      allowed = new Set([...sets[0]!].filter((slot) => sets.every((s) => s.has(slot))))
    }

    let candidates: Iterable<[number, number]>
    if (terms.length === 0) {
      const slots = allowed ?? this.#slots.flatMap((s) => (s === undefined ? [] : [s.slot]))
      candidates = [...slots].map((slot) => [slot, 0] as [number, number])
    } else {
      const relevance = new Map<number, number>()
      terms.forEach((term, i) => {
        for (const [slot, weight] of this.#match(term, lastIsPrefix && i === terms.length - 1)) {
          if (allowed === null || allowed.has(slot)) relevance.set(slot, (relevance.get(slot) ?? 0) + weight)
        }
      })
      candidates = relevance
    }

    // Keep only the page: a sorted window of limit + 1 keys, filled in one pass.
    const after = query.after
    const window: Array<Key & { stored: Stored }> = []
    const size = query.limit + 1
    for (const [slot, relevance] of candidates) {
      const stored = this.#slots[slot]!
      const key = { relevance, createdAt: stored.entry.createdAt, id: stored.entry.id, stored }
      if (after !== undefined && compareKeys(key, after) <= 0) continue
      if (window.length === size && compareKeys(key, window[size - 1]!) >= 0) continue
      let lo = 0
      let hi = window.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (compareKeys(window[mid]!, key) < 0) lo = mid + 1
        else hi = mid
      }
      window.splice(lo, 0, key)
      if (window.length > size) window.pop()
    }
    const page = window.slice(0, query.limit)
    const last = page[page.length - 1]
    const next = window.length > query.limit && last !== undefined
      ? { relevance: last.relevance, createdAt: last.createdAt, id: last.id, query: hash }
      : undefined
    return { hits: page.map((k) => ({ entry: k.stored.entry, relevance: k.relevance })), next, query: hash }
  }
}
