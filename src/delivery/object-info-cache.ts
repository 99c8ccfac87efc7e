import type { ObjectInfo } from '../storage/object-store.js'

/**
 * storage.head() answers, kept in process. Every object delivery serves lives under a version
 * prefix and never changes (a re-transcode writes a new prefix), so an entry never goes stale;
 * the map is bounded by entry count and forgets the oldest first. Concurrent misses share a head().
 */
export class ObjectInfoCache {
  readonly #head: (key: string) => Promise<ObjectInfo>
  readonly #maxEntries: number
  readonly #entries = new Map<string, ObjectInfo>()
  readonly #pending = new Map<string, Promise<ObjectInfo>>()

  constructor (head: (key: string) => Promise<ObjectInfo>, maxEntries = 50_000) {
    this.#head = head
    this.#maxEntries = maxEntries
  }

  peek (key: string): ObjectInfo | undefined {
    return this.#entries.get(key)
  }

  get (key: string): ObjectInfo | Promise<ObjectInfo> {
    const known = this.#entries.get(key)
    if (known !== undefined) return known
    let pending = this.#pending.get(key)
    if (pending === undefined) {
      pending = this.#head(key).then((info) => {
        this.#remember(key, info)
        return info
      }).finally(() => this.#pending.delete(key))
      this.#pending.set(key, pending)
    }
    return pending
  }

  forget (key: string): void {
    this.#entries.delete(key)
  }

  forgetPrefix (prefix: string): void {
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#entries.delete(key)
  }

  get size (): number {
    return this.#entries.size
  }

  #remember (key: string, info: ObjectInfo): void {
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, info)
  }
}
