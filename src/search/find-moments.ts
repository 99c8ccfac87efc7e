import { foldTerm, queryTerms, type IndexedCue } from './video-search-index.js'

/** A moment of a video where the query's words are said: seconds, and the cue's text as HTML with them marked. */
export interface Moment {
  start: number
  end: number
  /** the cue text, HTML-escaped, with each matched word in <mark>...</mark> */
  text: string
}

const WORD = /[^\n\r\p{Z}\p{P}]+/gu
const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** The query as search reads it: folded terms, the last one a prefix unless the query ends with a space or punctuation. */
export function readQuery (q: string): { terms: string[], lastIsPrefix: boolean } {
  return { terms: queryTerms(q), lastIsPrefix: !/[\s\p{P}]$/u.test(q) }
}

/** One cue against the query: how many distinct terms it holds, and its text with them marked. */
function matchCue (cue: IndexedCue, terms: string[], lastIsPrefix: boolean): { score: number, text: string } {
  const found = new Set<number>()
  let text = ''
  let at = 0
  for (const m of cue.text.matchAll(WORD)) {
    const folded = foldTerm(m[0])
    const hit = terms.findIndex((t, i) => folded === t || (lastIsPrefix && i === terms.length - 1 && folded.startsWith(t)))
    if (hit === -1) continue
    found.add(hit)
    text += escapeHtml(cue.text.slice(at, m.index)) + `<mark>${escapeHtml(m[0])}</mark>`
    at = m.index + m[0].length
  }
  return { score: found.size, text: text + escapeHtml(cue.text.slice(at)) }
}

/** Every cue holding a word of the query, in the order given, with how many distinct query words it holds and its text marked. Pure. */
export function matchCues<C extends IndexedCue> (cues: readonly C[], q: string): Array<{ cue: C, score: number, marked: string }> {
  const { terms, lastIsPrefix } = readQuery(q)
  if (terms.length === 0) return []
  const out: Array<{ cue: C, score: number, marked: string }> = []
  for (const cue of cues) {
    const { score, text } = matchCue(cue, terms, lastIsPrefix)
    if (score > 0) out.push({ cue, score, marked: text })
  }
  return out
}

/**
 * The best moments for a query: the cues holding most distinct words of it, then the earliest,
 * at most limit of them. Folded for case and accents as the rest of search. Pure.
 */
export function findMoments (cues: readonly IndexedCue[], q: string, limit: number): Moment[] {
  return matchCues(cues, q)
    .sort((a, b) => b.score - a.score || a.cue.start - b.cue.start)
    .slice(0, limit)
    .map(({ cue, marked }) => ({ start: cue.start, end: cue.end, text: marked }))
}
