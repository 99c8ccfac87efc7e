import type { FastifyBaseLogger } from 'fastify'
import { RedisTier } from '../cache/redis-tier.js'
import type { TierStatus } from '../cache/byte-cache.js'

export interface SessionStoreOptions {
  /** Forget a session (and a network's estimate) after this long without a request. */
  ttlSeconds?: number
  /** Bound on sessions and networks kept in process. */
  maxEntries?: number
  /** Shared state across API nodes; without it, state lives in this process only. */
  redis?: { url: string, timeoutMs: number, log: FastifyBaseLogger }
}

const MAX_STATE_BYTES = 64 * 1024

/**
 * Where viewing-session state lives between requests: JSON values by key, expiring after
 * inactivity. In process always (bounded, oldest first out); in Redis too when configured, which
 * is then read first so that any API node continues a session another node began. Redis failing
 * or slow is never an error: reads fall back to this process's copy and writes are best effort.
 */
export class SessionStore<T> {
  readonly #ttlMs: number
  readonly #ttlSeconds: number
  readonly #maxEntries: number
  readonly #local = new Map<string, { value: T, until: number }>()
  readonly #claims = new Map<string, number>()
  readonly #redis: RedisTier | undefined

  constructor (options: SessionStoreOptions = {}) {
    this.#ttlSeconds = options.ttlSeconds ?? 30 * 60
    this.#ttlMs = this.#ttlSeconds * 1000
    this.#maxEntries = options.maxEntries ?? 100_000
    if (options.redis !== undefined) {
      this.#redis = new RedisTier({ url: options.redis.url, timeoutMs: options.redis.timeoutMs, maxValueBytes: MAX_STATE_BYTES, log: options.redis.log })
      this.#redis.connect().catch(() => {})
    }
  }

  get shared (): boolean {
    return this.#redis !== undefined
  }

  /** This process's copy, without waiting: for the synchronous fast path. */
  peek (key: string, now = Date.now()): T | undefined {
    const entry = this.#local.get(key)
    if (entry === undefined) return undefined
    if (entry.until <= now) {
      this.#local.delete(key)
      return undefined
    }
    return entry.value
  }

  async get (key: string): Promise<T | undefined> {
    return (await this.getVersion(key)).value
  }

  /**
   * get(), with the version read (Redis's bytes, for setIfUnchanged()): `shared` false when Redis
   * was not read (none, or it failed), and the value is this process's copy.
   */
  async getVersion (key: string): Promise<{ value: T | undefined, raw: Buffer | undefined, shared: boolean }> {
    if (this.#redis !== undefined) {
      const errors = this.#redis.errors
      const raw = await this.#redis.get('abr:' + key)
      if (raw !== undefined) {
        try {
          const value = JSON.parse(raw.toString('utf8')) as T
          this.#remember(key, value)
          return { value, raw, shared: true }
        } catch {
          // A value we cannot read is as good as none.
        }
      }
      // Absent in Redis (or unreadable): a write must find it so. A read that failed is not shared.
      if (raw !== undefined || this.#redis.errors === errors) return { value: this.peek(key), raw, shared: true }
    }
    return { value: this.peek(key), raw: undefined, shared: false }
  }

  /**
   * set(), unless another node has written the key since `version` was read (getVersion()): false
   * then, and the caller reads again. A version that was not shared, or Redis failing, writes as
   * set() does (best effort).
   */
  async setIfUnchanged (key: string, version: { raw: Buffer | undefined, shared: boolean }, value: T): Promise<boolean> {
    if (this.#redis === undefined || !version.shared) {
      await this.set(key, value)
      return true
    }
    const done = await this.#redis.setIfUnchanged('abr:' + key, version.raw, Buffer.from(JSON.stringify(value)), this.#ttlSeconds)
    if (done === false) return false
    this.#remember(key, value)
    return true
  }

  /** Keeps a value in this process only, at once: for a store that is not shared (no Redis). */
  setLocal (key: string, value: T): void {
    this.#remember(key, value)
  }

  async set (key: string, value: T): Promise<void> {
    this.#remember(key, value)
    if (this.#redis !== undefined) await this.#redis.set('abr:' + key, Buffer.from(JSON.stringify(value)), this.#ttlSeconds)
  }

  /**
   * True for the first caller to claim `key` within `ttlSeconds` (across nodes when Redis is shared):
   * for work that several nodes are handed alike and one must do. Redis failing counts as claimed.
   */
  async claimOnce (key: string, ttlSeconds = 60): Promise<boolean> {
    if (this.#redis !== undefined) {
      try {
        return await this.#redis.client.set('lectern:abr:claim:' + key, '1', 'EX', ttlSeconds, 'NX') === 'OK'
      } catch {
        return true
      }
    }
    const now = Date.now()
    if (this.#claims.size >= this.#maxEntries) {
      for (const [k, until] of this.#claims) {
        if (until > now && this.#claims.size < this.#maxEntries) break
        this.#claims.delete(k)
      }
    }
    const until = this.#claims.get(key)
    if (until !== undefined && until > now) return false
    this.#claims.set(key, now + ttlSeconds * 1000)
    return true
  }

  get size (): number {
    return this.#local.size
  }

  /** This process's values under a key prefix that were written within the last `withinMs` (read-only, for metrics). */
  recent (prefix: string, withinMs: number, now = Date.now()): T[] {
    // until = last write + TTL
    const since = now - withinMs + this.#ttlMs
    const found: T[] = []
    for (const [key, entry] of this.#local) {
      if (entry.until > since && key.startsWith(prefix)) found.push(entry.value)
    }
    return found
  }

  async probe (): Promise<TierStatus> {
    return this.#redis === undefined ? 'disabled' : await this.#redis.probe()
  }

  async close (): Promise<void> {
    await this.#redis?.close()
  }

  #remember (key: string, value: T): void {
    const now = Date.now()
    this.#local.delete(key)
    // Insertion order is expiry order (every write extends by the same TTL): drop from the front.
    for (const [k, e] of this.#local) {
      if (e.until > now && this.#local.size < this.#maxEntries) break
      this.#local.delete(k)
    }
    this.#local.set(key, { value, until: now + this.#ttlMs })
  }
}
