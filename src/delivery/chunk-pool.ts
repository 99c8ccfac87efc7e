/** Buffers handed out again, by every pool in this process: read-only, so tests can see reuse happen. */
let recycledInProcess = 0
export function recycledChunkBuffers (): number {
  return recycledInProcess
}

interface Holds {
  /** fills and responses that may still read or write the buffer */
  refs: number
  /** L1 holds it (cleared by the cache's remove listener) */
  cached: boolean
}

/**
 * Recycles the Buffers of full-size chunk fills. Without it every cold chunk is a fresh 1 MiB
 * ArrayBuffer that lives in L1 long enough to reach V8's old generation and, once evicted, can only
 * be freed by a full mark-compact: under cache churn those collections (triggered by external
 * memory growth, one per ~64 evicted chunks, each marking the whole heap) cost more than the reads.
 *
 * A buffer is handed out again only when nothing can read it: no fill or response holds it
 * (responses release at their 'close', after which no socket write touches their bytes) and L1
 * has dropped it. Holds are weak: a buffer whose release never comes is simply left to the
 * garbage collector, so a missed release costs a recycle, never memory or bytes.
 */
export class ChunkPool {
  readonly chunkSize: number
  readonly maxIdle: number
  readonly #holds = new WeakMap<Buffer, Holds>()
  readonly #idle: Buffer[] = []
  #allocated = 0
  #recycled = 0

  constructor (chunkSize: number, maxIdle: number) {
    this.chunkSize = chunkSize
    this.maxIdle = maxIdle
  }

  /** A buffer of chunkSize bytes (contents undefined), held once by the caller. */
  take (): Buffer {
    let buffer = this.#idle.pop()
    if (buffer === undefined) {
      // Unpooled and exactly sized, so the LRU stores it as it is rather than copying it.
      buffer = Buffer.allocUnsafeSlow(this.chunkSize)
      this.#allocated++
    } else {
      this.#recycled++
      recycledInProcess++
    }
    this.#holds.set(buffer, { refs: 1, cached: false })
    return buffer
  }

  /** Whether buffer came from this pool and has not been recycled since it was handed out. */
  owns (buffer: Buffer): boolean {
    return this.#holds.has(buffer)
  }

  retain (buffer: Buffer): void {
    const h = this.#holds.get(buffer)
    if (h !== undefined) h.refs++
  }

  release (buffer: Buffer): void {
    const h = this.#holds.get(buffer)
    if (h === undefined) return
    h.refs--
    this.#maybeIdle(buffer, h)
  }

  /** Call once L1 holds buffer (checked by identity after it was stored). */
  markCached (buffer: Buffer): void {
    const h = this.#holds.get(buffer)
    if (h !== undefined) h.cached = true
  }

  /** The cache's remove listener: L1 no longer reads buffer. */
  uncached (buffer: Buffer): void {
    const h = this.#holds.get(buffer)
    if (h === undefined || !h.cached) return
    h.cached = false
    this.#maybeIdle(buffer, h)
  }

  get stats (): { allocated: number, recycled: number, idle: number } {
    return { allocated: this.#allocated, recycled: this.#recycled, idle: this.#idle.length }
  }

  #maybeIdle (buffer: Buffer, h: Holds): void {
    if (h.refs > 0 || h.cached) return
    this.#holds.delete(buffer)
    if (this.#idle.length < this.maxIdle) this.#idle.push(buffer)
  }
}

/**
 * The chunk buffers one response has read from, released together when the response closes.
 * Weak references, so a long response over many chunks pins none of them after L1 drops them.
 */
export class ResponseHolds {
  readonly #pool: ChunkPool
  #refs: Array<WeakRef<Buffer>> = []
  #last: Buffer | undefined
  #seen = new WeakSet<Buffer>()
  #done = false

  constructor (pool: ChunkPool) {
    this.#pool = pool
  }

  /** Holds buffer for this response if it is a pooled chunk; call before any of its bytes are written. */
  hold (buffer: Buffer): void {
    if (buffer === this.#last || this.#done || !this.#pool.owns(buffer) || this.#seen.has(buffer)) return
    this.#last = buffer
    this.#seen.add(buffer)
    this.#pool.retain(buffer)
    this.#refs.push(new WeakRef(buffer))
  }

  /** Once the response is closed: nothing of it is written any more. */
  releaseAll (): void {
    if (this.#done) return
    this.#done = true
    this.#last = undefined
    const refs = this.#refs
    this.#refs = []
    for (const ref of refs) {
      const buffer = ref.deref()
      if (buffer !== undefined) this.#pool.release(buffer)
    }
  }
}
