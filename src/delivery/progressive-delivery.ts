import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ByteCache } from '../cache/byte-cache.js'
import { isLive } from '../db/documents.js'
import { ConflictError, NotFoundError } from '../errors.js'
import { deliveryCounters, type CacheOutcome } from '../metrics/delivery-counters.js'
import type { ByteRange, ObjectStore } from '../storage/object-store.js'
import { ChunkFill } from './chunk-fill.js'
import { ResponseHolds, type ChunkPool } from './chunk-pool.js'
import { chunkBounds, chunkKey } from './chunked-body.js'
import { parseRangeHeader } from './resolve-range.js'
import type { Access } from './media-access.js'
import { sendChunked } from './send-bytes.js'
import { IMMUTABLE, IMMUTABLE_PRIVATE, type ServedObject } from './served-object.js'

/** One miss in this many still fills the chunk cache while fills are found pointless. */
const PASS_THROUGH_RECHECK = 256

export interface ProgressiveDeps {
  storage: ObjectStore
  cache: ByteCache
  /** recycled chunk buffers, when L1 says when it drops one and there is no L2 */
  pool: ChunkPool | undefined
  chunkSize: number
  l2Enabled: boolean
  /** The ServedObject of the MP4 under a caching policy (headers worked out once). */
  served: (objectKey: string, cacheControl: string) => ServedObject | Promise<ServedObject>
  countView: (request: FastifyRequest, a: Access) => void
}

interface Seen { outcome: CacheOutcome }

/**
 * `/stream/:id`: the progressive MP4 with byte ranges, through aligned chunks of the two-tier
 * cache. A missing chunk is filled by one origin read of exactly its bytes, which every reader of
 * that chunk follows as it arrives; when L1 cannot keep chunks (and there is no L2), single-range
 * misses are piped straight from storage instead.
 */
export class ProgressiveDelivery {
  readonly #d: ProgressiveDeps
  readonly #fills = new Map<string, ChunkFill>()
  /** Which tier each chunk fill reads from (its pieces are counted as they are sent). */
  readonly #fillOutcomes = new WeakMap<ChunkFill, Seen>()
  /**
   * Whether chunk fills are worth it: false when there is no L2 and L1 did not keep a full-size
   * chunk it was just given (its largest entry is smaller than a chunk).
   */
  #fillsKept = true
  #missesSinceCheck = 0

  constructor (deps: ProgressiveDeps) {
    this.#d = deps
  }

  /** Starts filling one chunk through the cache: one origin read of exactly the chunk's bytes (or the L2 copy). */
  #startFill (ck: string, objectKey: string, bounds: ByteRange): ChunkFill {
    const { pool, chunkSize, cache, storage, l2Enabled } = this.#d
    const length = bounds.end - bounds.start + 1
    // The fill holds a pooled buffer until it settles; readers hold it on their own (ResponseHolds).
    const pooled = pool !== undefined && length === chunkSize ? pool.take() : undefined
    const fill = new ChunkFill(length, pooled)
    this.#fills.set(ck, fill)
    const from: Seen = { outcome: l2Enabled ? 'l2' : 'origin' }
    this.#fillOutcomes.set(fill, from)
    cache.readThrough(ck, async () => {
      from.outcome = 'origin'
      return await fill.read(await storage.get(objectKey, { range: bounds }))
    })
      .then((chunk) => {
        fill.settle(chunk)
        const kept = cache.peek(ck)
        if (pooled !== undefined && kept === pooled) pool!.markCached(pooled)
        if (chunk.byteLength === chunkSize) this.#fillsKept = kept !== undefined || l2Enabled
      }, (err: Error) => fill.fail(err))
      .finally(() => {
        this.#fills.delete(ck)
        if (pooled !== undefined) pool!.release(pooled)
      })
    return fill
  }

  /**
   * Whether this miss is piped from storage rather than filled. One miss in PASS_THROUGH_RECHECK
   * still fills, so a spurious miss (a concurrent delete) does not switch chunk caching off for good.
   */
  #passThrough (): boolean {
    if (this.#fillsKept) return false
    if (++this.#missesSinceCheck < PASS_THROUGH_RECHECK) return true
    this.#missesSinceCheck = 0
    return false
  }

  async serve (request: FastifyRequest, reply: FastifyReply, a: Access): Promise<void> {
    const { cache, pool, chunkSize, storage } = this.#d
    if (isLive(a.video)) {
      throw new ConflictError(`Video ${a.video._id} is still being transcoded (${Math.round(a.video.progress * 100)}% done); its MP4 is made last. Play it by HLS meanwhile: /hls/${a.video._id}/master.m3u8`)
    }
    const objectKey = a.video.progressiveKey
    if (objectKey === null) throw new NotFoundError(`Video ${a.video._id} has no progressive MP4; play it by HLS at /hls/${a.video._id}/master.m3u8`)
    const pending = this.#d.served(objectKey, a.shared ? IMMUTABLE : IMMUTABLE_PRIVATE)
    const obj = pending instanceof Promise ? await pending : pending
    this.#d.countView(request, a)
    // Every pooled chunk this response reads from stays out of the pool until the response is
    // closed (written out or torn down): only then can no socket write still read its bytes.
    const holds = pool === undefined ? undefined : new ResponseHolds(pool)
    if (holds !== undefined) reply.raw.once('close', () => holds.releaseAll())
    // Chunks this response reads from a fill; any other piece came from L1.
    let filled: Map<number, Seen> | undefined
    const counted = deliveryCounters.bytes.progressive
    const source = (n: number): Buffer | ChunkFill => {
      const ck = chunkKey(objectKey, n)
      const hit = cache.peek(ck)
      if (hit !== undefined) {
        holds?.hold(hit)
        filled?.delete(n)
        return hit
      }
      const fill = this.#fills.get(ck) ?? this.#startFill(ck, objectKey, chunkBounds(n, obj.size, chunkSize))
      ;(filled ??= new Map()).set(n, this.#fillOutcomes.get(fill) ?? { outcome: 'origin' })
      holds?.hold(fill.result ?? fill.buffer)
      return fill
    }
    const passThrough = this.#passThrough()
    if (!passThrough) {
      // The first chunk the answer needs, when it is not in memory, is asked of storage before the
      // status line goes out: if storage is away, the answer is still a 503 with its reason.
      const first = firstByteAsked(request.headers.range, obj.size)
      if (first !== null && cache.peek(chunkKey(objectKey, Math.floor(first / chunkSize))) === undefined) {
        const fill = source(Math.floor(first / chunkSize))
        if (fill instanceof ChunkFill) await firstPiece(fill)
      }
    }
    reply.hijack()
    sendChunked(request.raw, reply.raw, obj, {
      source,
      peek: (n) => {
        const hit = cache.peek(chunkKey(objectKey, n))
        if (hit !== undefined) holds?.hold(hit)
        return hit
      },
      chunkSize,
      passThrough: passThrough ? async (range) => await storage.get(objectKey, { range }) : undefined,
      onPiece: (n, bytes) => { counted[filled?.get(n)?.outcome ?? 'l1'] += bytes },
      onPassThrough: (bytes) => { counted.origin += bytes },
      onError: (err) => request.log.warn({ err, key: objectKey }, 'progressive stream failed mid-body')
    })
  }
}

/**
 * The first byte a request asks for (the first satisfiable range of its Range header; 0 without
 * one), or null when the header is not one that is answered with bytes from a known place (it is
 * then left to the range resolution to answer). Only used to start the first read early.
 */
function firstByteAsked (range: string | undefined, size: number): number | null {
  if (size === 0) return null
  if (range === undefined) return 0
  return parseRangeHeader(range, size)?.[0]?.start ?? null
}

/** Resolves when a fill has its first bytes (or is done); rejects with its error when it failed. */
async function firstPiece (fill: ChunkFill): Promise<void> {
  while (fill.filled === 0 && fill.result === undefined && fill.error === undefined) {
    await new Promise<void>((resolve) => { fill.onProgress(resolve) })
  }
  if (fill.error !== undefined && fill.filled === 0) throw fill.error
}
