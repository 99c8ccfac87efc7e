export interface LruCacheOptions {
  /** Upper bound on the sum of the stored values' lengths. */
  maxBytes: number
  /**
   * Values longer than this are not stored: one huge object would otherwise flush everything
   * else. Defaults to an eighth of maxBytes.
   */
  maxEntryBytes?: number
}

// A value that is a view into a much larger ArrayBuffer (a socket read buffer, Node's 8 KiB
// allocation pool) would keep the whole parent alive while it sits in the cache, so such
// values are copied once on the way in.
const SLACK_BYTES = 4096

function ownBytes (value: Buffer): Buffer {
  if (value.buffer.byteLength <= value.byteLength + SLACK_BYTES) return value
  const copy = Buffer.allocUnsafeSlow(value.byteLength)
  value.copy(copy)
  return copy
}

/**
 * An in-process LRU of Buffers bounded by total bytes. A Map keeps insertion order, so
 * re-inserting on access makes the first key the least recently used: get, set and evict are O(1).
 * Bytes count the values only; keys and Map overhead are small next to media segments.
 */
export class LruCache {
  readonly maxBytes: number
  readonly maxEntryBytes: number
  #entries = new Map<string, Buffer>()
  /**
   * The most recently used key: a hit on it needs no move (a segment in demand is asked for many
   * times in a row). Left as it is when that key goes: it can only be stored again through set().
   */
  #newest: string | undefined
  #bytes = 0
  #evictions = 0
  #removeListeners: Array<(key: string, value: Buffer) => void> = []

  constructor (options: LruCacheOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new RangeError(`maxBytes must be a whole number >= 0, got ${options.maxBytes}`)
    }
    this.maxBytes = options.maxBytes
    this.maxEntryBytes = Math.min(options.maxEntryBytes ?? Math.floor(options.maxBytes / 8), options.maxBytes)
  }

  /** The value, marked most recently used; the delivery hot path, so it allocates nothing. */
  peek (key: string): Buffer | undefined {
    const value = this.#entries.get(key)
    if (value !== undefined && key !== this.#newest) {
      this.#entries.delete(key)
      this.#entries.set(key, value)
      this.#newest = key
    }
    return value
  }

  /** Whether key is stored, without touching its recency. */
  has (key: string): boolean {
    return this.#entries.has(key)
  }

  /**
   * Calls listener with every value that stops being stored (evicted, deleted, replaced by another
   * value, cleared), so an owner of pooled buffers knows when the cache no longer reads one.
   */
  onRemove (listener: (key: string, value: Buffer) => void): void {
    this.#removeListeners.push(listener)
  }

  /** Stores value as most recently used, evicting the least recently used; false if it is too large to keep. */
  set (key: string, value: Buffer): boolean {
    const previous = this.#entries.get(key)
    if (previous !== undefined) {
      this.#entries.delete(key)
      this.#bytes -= previous.byteLength
      // Storing the same Buffer again keeps it stored: not a removal.
      if (previous !== value || value.byteLength > this.maxEntryBytes) this.#removed(key, previous)
    }
    if (value.byteLength > this.maxEntryBytes) return false
    const stored = ownBytes(value)
    this.#entries.set(key, stored)
    this.#newest = key
    this.#bytes += stored.byteLength
    while (this.#bytes > this.maxBytes) {
      // Iteration order is insertion order: the first key is the least recently used.
      const oldest = this.#entries.keys().next()
      if (oldest.done === true) break
      this.#remove(oldest.value)
      this.#evictions++
    }
    return true
  }

  delete (key: string): boolean {
    return this.#remove(key)
  }

  /** Removes every key starting with prefix; returns how many. */
  deletePrefix (prefix: string): number {
    let removed = 0
    // Deleting the current key while iterating a Map is well defined in JavaScript.
    for (const key of this.#entries.keys()) {
      if (key.startsWith(prefix)) {
        this.#remove(key)
        removed++
      }
    }
    return removed
  }

  clear (): void {
    const entries = this.#entries
    this.#entries = new Map()
    this.#bytes = 0
    if (this.#removeListeners.length > 0) for (const [key, value] of entries) this.#removed(key, value)
  }

  /** Keys from least to most recently used. */
  keys (): IterableIterator<string> {
    return this.#entries.keys()
  }

  get bytes (): number {
    return this.#bytes
  }

  get size (): number {
    return this.#entries.size
  }

  get evictions (): number {
    return this.#evictions
  }

  #remove (key: string): boolean {
    const value = this.#entries.get(key)
    if (value === undefined) return false
    this.#entries.delete(key)
    this.#bytes -= value.byteLength
    this.#removed(key, value)
    return true
  }

  #removed (key: string, value: Buffer): void {
    for (const listener of this.#removeListeners) listener(key, value)
  }
}
