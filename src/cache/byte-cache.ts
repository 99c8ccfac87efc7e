/** Health of one cache tier. */
export type TierStatus = 'ok' | 'down' | 'disabled'

export interface CacheStats {
  l1Hits: number
  /** Counted by get and readThrough; a peek that misses is usually followed by one of them. */
  l1Misses: number
  l2Hits: number
  l2Misses: number
  l2Errors: number
  originReads: number
  l1Bytes: number
  l1Entries: number
}

export interface ReadThroughOptions {
  /** TTL in L2 (Redis); L1 is bounded by bytes, not time. */
  ttlSeconds?: number
}

/**
 * The two-tier read-through byte cache: L1 an in-process LRU bounded by bytes, L2 Redis when
 * configured. Values are immutable Buffers keyed by strings (object keys plus a suffix, e.g.
 * `videos/<id>/<v>/720p/segment-00003.ts` or `videos/<id>/<v>/progressive.mp4#chunk=5`).
 * L2 failures never fail a read: they are logged and the read goes on to origin.
 */
export interface ByteCache {
  /** Synchronous L1 lookup: the fast path for delivery. */
  peek (key: string): Buffer | undefined
  /** L1, then L2 (filling L1), or undefined. */
  get (key: string): Promise<Buffer | undefined>
  /**
   * L1 -> L2 -> load(). Concurrent misses for one key share one load() call (single-flight);
   * a loaded value fills L2 and L1. A load() error is passed to every waiter and nothing is cached.
   */
  readThrough (key: string, load: () => Promise<Buffer>, options?: ReadThroughOptions): Promise<Buffer>
  set (key: string, value: Buffer, options?: ReadThroughOptions): Promise<void>
  delete (key: string): Promise<void>
  /** Drops every key starting with prefix from both tiers (used when a video is deleted). */
  deletePrefix (prefix: string): Promise<void>
  stats (): CacheStats
  /**
   * Calls listener with every value L1 stops holding (evicted, deleted, replaced, cleared), so a
   * caller that recycles the Buffers it stores knows when L1 no longer reads one. Optional: a cache
   * without it gives no such signal, and its callers must not recycle what they store.
   */
  onL1Remove? (listener: (key: string, value: Buffer) => void): void
  /** Per-tier status for /health/ready. */
  probe (): Promise<{ memory: TierStatus, redis: TierStatus }>
  close (): Promise<void>
}
