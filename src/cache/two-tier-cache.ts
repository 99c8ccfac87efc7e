import type { ByteCache, CacheStats, ReadThroughOptions, TierStatus } from './byte-cache.js'
import type { LruCache } from './lru-cache.js'
import type { RedisTier } from './redis-tier.js'

export interface TwoTierCacheOptions {
  l1: LruCache
  /** Absent: the cache is memory only and probe reports redis 'disabled'. */
  l2?: RedisTier
  /** TTL of L2 entries when a call does not give one. */
  defaultTtlSeconds: number
}

/** Redis refuses EX 0 or fractions; a bad TTL is the caller's bug, so it fails loudly rather than silently skipping L2. */
function ttlOf (seconds: number): number {
  if (!Number.isSafeInteger(seconds) || seconds < 1) throw new RangeError(`ttlSeconds must be a whole number >= 1, got ${seconds}`)
  return seconds
}

interface Flight {
  promise: Promise<Buffer>
  /** Set when the key was deleted while loading: the waiters still get the value, the caches do not. */
  stale: boolean
}

/** CacheStats plus figures that only this implementation has. */
export interface TwoTierCacheStats extends CacheStats {
  l1Evictions: number
  /** Reads that joined a load already in flight instead of starting their own. */
  sharedLoads: number
  originErrors: number
  inFlight: number
}

/**
 * L1 (in-process LRU) -> L2 (Redis, optional) -> origin, with one load per key in flight.
 * L2 is written behind the read: a reader never waits for Redis to accept a value.
 */
export class TwoTierCache implements ByteCache {
  readonly #l1: LruCache
  readonly #l2: RedisTier | undefined
  readonly #defaultTtlSeconds: number
  readonly #flights = new Map<string, Flight>()
  readonly #pendingWrites = new Set<Promise<unknown>>()
  #l1Hits = 0
  #l1Misses = 0
  #l2Hits = 0
  #l2Misses = 0
  #originReads = 0
  #originErrors = 0
  #sharedLoads = 0
  #closed = false

  constructor (options: TwoTierCacheOptions) {
    this.#l1 = options.l1
    this.#l2 = options.l2
    this.#defaultTtlSeconds = ttlOf(options.defaultTtlSeconds)
  }

  // Misses are counted by get and readThrough only: callers peek first and read through on a
  // miss, and one request should count as one miss.
  peek (key: string): Buffer | undefined {
    const value = this.#l1.peek(key)
    if (value !== undefined) this.#l1Hits++
    return value
  }

  async get (key: string): Promise<Buffer | undefined> {
    const hit = this.peek(key)
    if (hit !== undefined) return hit
    this.#l1Misses++
    return this.#l2 === undefined ? undefined : this.#fromL2(key)
  }

  readThrough (key: string, load: () => Promise<Buffer>, options?: ReadThroughOptions): Promise<Buffer> {
    const hit = this.peek(key)
    if (hit !== undefined) return Promise.resolve(hit)
    this.#l1Misses++
    let ttlSeconds: number
    try {
      ttlSeconds = this.#ttl(options)
    } catch (err) {
      return Promise.reject(err)
    }
    const flight = this.#flights.get(key)
    if (flight !== undefined) {
      this.#sharedLoads++
      return flight.promise
    }
    const started: Flight = { promise: undefined as unknown as Promise<Buffer>, stale: false }
    started.promise = this.#load(key, load, ttlSeconds, started)
      .finally(() => {
        // Only remove our own entry: a delete may already have replaced it with a newer flight.
        if (this.#flights.get(key) === started) this.#flights.delete(key)
      })
    this.#flights.set(key, started)
    return started.promise
  }

  async set (key: string, value: Buffer, options?: ReadThroughOptions): Promise<void> {
    const ttlSeconds = this.#ttl(options)
    this.#l1.set(key, value)
    await this.#l2?.set(key, value, ttlSeconds)
  }

  async delete (key: string): Promise<void> {
    const flight = this.#flights.get(key)
    if (flight !== undefined) {
      flight.stale = true
      this.#flights.delete(key)
    }
    this.#l1.delete(key)
    await this.#l2?.delete(key)
  }

  async deletePrefix (prefix: string): Promise<void> {
    for (const [key, flight] of this.#flights) {
      if (key.startsWith(prefix)) {
        flight.stale = true
        this.#flights.delete(key)
      }
    }
    this.#l1.deletePrefix(prefix)
    await this.#l2?.deletePrefix(prefix)
  }

  onL1Remove (listener: (key: string, value: Buffer) => void): void {
    this.#l1.onRemove(listener)
  }

  stats (): TwoTierCacheStats {
    return {
      l1Hits: this.#l1Hits,
      l1Misses: this.#l1Misses,
      l2Hits: this.#l2Hits,
      l2Misses: this.#l2Misses,
      l2Errors: this.#l2?.errors ?? 0,
      originReads: this.#originReads,
      l1Bytes: this.#l1.bytes,
      l1Entries: this.#l1.size,
      l1Evictions: this.#l1.evictions,
      sharedLoads: this.#sharedLoads,
      originErrors: this.#originErrors,
      inFlight: this.#flights.size
    }
  }

  async probe (): Promise<{ memory: TierStatus, redis: TierStatus }> {
    return {
      memory: this.#closed ? 'down' : 'ok',
      redis: this.#l2 === undefined ? 'disabled' : await this.#l2.probe()
    }
  }

  /** Resolves when every L2 write started so far has settled (tests, and close). */
  async flush (): Promise<void> {
    while (this.#pendingWrites.size > 0) await Promise.allSettled([...this.#pendingWrites])
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.flush()
    this.#l1.clear()
    await this.#l2?.close()
  }

  #ttl (options: ReadThroughOptions | undefined): number {
    return options?.ttlSeconds === undefined ? this.#defaultTtlSeconds : ttlOf(options.ttlSeconds)
  }

  async #fromL2 (key: string): Promise<Buffer | undefined> {
    const value = await this.#l2!.get(key)
    if (value === undefined) {
      this.#l2Misses++
      return undefined
    }
    this.#l2Hits++
    this.#l1.set(key, value)
    return value
  }

  async #load (key: string, load: () => Promise<Buffer>, ttlSeconds: number, flight: Flight): Promise<Buffer> {
    if (this.#l2 !== undefined) {
      const value = await this.#l2.get(key)
      if (value !== undefined) {
        this.#l2Hits++
        if (!flight.stale) this.#l1.set(key, value)
        return value
      }
      this.#l2Misses++
    }
    this.#originReads++
    let value: Buffer
    try {
      value = await load()
    } catch (err) {
      this.#originErrors++
      throw err
    }
    if (!Buffer.isBuffer(value)) throw new TypeError(`cache load for "${key}" resolved to ${typeof value}, not a Buffer`)
    if (!flight.stale) {
      this.#l1.set(key, value)
      if (this.#l2 !== undefined && value.byteLength <= this.#l2.maxValueBytes) this.#writeBehind(this.#l2.set(key, value, ttlSeconds))
    }
    return value
  }

  #writeBehind (write: Promise<unknown>): void {
    this.#pendingWrites.add(write)
    // RedisTier.set never rejects; the catch only keeps a broken promise from going unhandled.
    write.catch(() => {}).finally(() => this.#pendingWrites.delete(write))
  }
}
