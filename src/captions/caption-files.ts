import { parseCaptions, type ParsedCaptions } from './parse-captions.js'

/** Caption files are small; larger ones are refused at upload. */
export const CAPTION_MAX_BYTES = 2 * 1024 * 1024

/** Where a caption file lives: beside the video's outputs, a new key for every upload (so a replace never changes bytes under a key). */
export const captionKey = (videoId: string, language: string, revision: string): string => `videos/${videoId}/captions/${language}.${revision}.vtt`

/** The revision part of a caption key (the ETag of its file). */
export const captionRevision = (key: string): string => key.slice(key.lastIndexOf('/') + 1).split('.').slice(-2, -1)[0] ?? key

/**
 * Parsed caption files by storage key, the most recently used kept. A key's bytes never change,
 * so an entry never goes stale; a failed load is forgotten so the next request tries again.
 */
export class ParsedCaptionCache {
  readonly #max: number
  readonly #entries = new Map<string, Promise<ParsedCaptions>>()

  constructor (max = 256) {
    this.#max = max
  }

  get (key: string, load: () => Promise<Buffer>): Promise<ParsedCaptions> {
    const known = this.#entries.get(key)
    if (known !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, known)
      return known
    }
    const parsed = load().then((bytes) => parseCaptions(bytes))
    parsed.catch(() => this.#entries.delete(key))
    this.#entries.set(key, parsed)
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!)
    return parsed
  }
}
