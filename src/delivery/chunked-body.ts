import { Readable } from 'node:stream'
import type { ByteRange } from '../storage/object-store.js'
import type { BytePart } from './resolve-range.js'
import { ChunkFill } from './chunk-fill.js'

/** Ranges of progressive files are cached in aligned chunks of this size (the last one shorter). */
export const CHUNK_SIZE = 1024 * 1024

/** Cache key of chunk `index` of the object at `key`. */
export function chunkKey (key: string, index: number): string {
  return `${key}#chunk=${index}`
}

/** The bytes of chunk `index` of an object of `size` bytes. */
export function chunkBounds (index: number, size: number, chunkSize = CHUNK_SIZE): ByteRange {
  const start = index * chunkSize
  return { start, end: Math.min(size, start + chunkSize) - 1 }
}

/** Gives chunk `index`: synchronously when it is in memory, a fill in progress, or a promise of it. */
export type ChunkSource = (index: number) => Buffer | ChunkFill | Promise<Buffer>

export interface ChunkedBodyOptions {
  size: number
  ranges: ByteRange[]
  /** For multipart/byteranges: a header block before each range and a closing delimiter. */
  multipart?: { parts: BytePart[], tail: string } | undefined
  source: ChunkSource
  chunkSize?: number
  /** Told of each piece pushed: the chunk it came from and its length (the delivery counters). */
  onPiece?: ((index: number, bytes: number) => void) | undefined
}

/**
 * A response body stitched from cached chunks: each push is a subarray of one chunk, so no byte
 * is copied and a range over a large file never exists in one piece. The next chunk is asked for
 * only when the consumer wants more (backpressure), and nothing more once the stream is destroyed
 * (a client that disconnected).
 */
export class ChunkedBody extends Readable {
  readonly #size: number
  readonly #ranges: ByteRange[]
  readonly #heads: string[] | undefined
  readonly #tail: string | undefined
  readonly #source: ChunkSource
  readonly #chunkSize: number
  readonly #onPiece: ((index: number, bytes: number) => void) | undefined
  #index = 0
  /** next byte to send in the current range; -1 before its part header has been pushed */
  #pos = -1
  #waiting = false

  constructor (options: ChunkedBodyOptions) {
    super()
    this.#size = options.size
    this.#ranges = options.ranges
    this.#heads = options.multipart?.parts.map((p) => p.head)
    this.#tail = options.multipart?.tail
    this.#source = options.source
    this.#chunkSize = options.chunkSize ?? CHUNK_SIZE
    this.#onPiece = options.onPiece
  }

  override _read (): void {
    if (!this.#waiting) this.#pump()
  }

  #pump (): void {
    while (!this.destroyed) {
      const range = this.#ranges[this.#index]
      if (range === undefined) {
        if (this.#tail !== undefined) this.push(this.#tail)
        this.push(null)
        return
      }
      if (this.#pos === -1) {
        this.#pos = range.start
        const head = this.#heads?.[this.#index]
        if (head !== undefined && !this.push(head)) return
        continue
      }
      if (this.#pos > range.end) {
        this.#index++
        this.#pos = -1
        continue
      }
      const n = Math.floor(this.#pos / this.#chunkSize)
      let chunk: Buffer | ChunkFill | Promise<Buffer>
      try {
        chunk = this.#source(n)
      } catch (err) {
        this.destroy(err as Error)
        return
      }
      if (chunk instanceof ChunkFill) {
        if (chunk.error !== undefined) {
          this.destroy(chunk.error)
          return
        }
        if (chunk.result !== undefined) chunk = chunk.result
        else if (!this.#takeArrived(chunk, n)) return
        else continue
      }
      if (chunk instanceof Promise) {
        this.#waiting = true
        chunk.then((buf) => {
          this.#waiting = false
          if (!this.destroyed && this.#take(buf, n)) this.#pump()
        }, (err: Error) => this.destroy(err))
        return
      }
      if (!this.#take(chunk, n)) return
    }
  }

  /**
   * Pushes what has arrived of a chunk still being filled. True to go on (something was pushed and
   * the consumer wants more); false when the consumer is full, or nothing new has arrived (the pump
   * then resumes at the fill's next progress).
   */
  #takeArrived (fill: ChunkFill, n: number): boolean {
    const bounds = chunkBounds(n, this.#size, this.#chunkSize)
    if (fill.buffer.byteLength !== bounds.end - bounds.start + 1) {
      this.destroy(new Error(`chunk ${n} is being filled with ${fill.buffer.byteLength} bytes, expected ${bounds.end - bounds.start + 1}`))
      return false
    }
    const range = this.#ranges[this.#index]!
    const arrivedEnd = bounds.start + fill.filled - 1
    if (arrivedEnd < this.#pos) {
      this.#waiting = true
      fill.onProgress(() => {
        this.#waiting = false
        if (!this.destroyed) this.#pump()
      })
      return false
    }
    const end = Math.min(range.end, arrivedEnd)
    const piece = fill.buffer.subarray(this.#pos - bounds.start, end - bounds.start + 1)
    this.#pos = end + 1
    this.#onPiece?.(n, piece.byteLength)
    return this.push(piece)
  }

  /** Pushes the part of chunk n that the current range wants; false when the consumer is full or the chunk is wrong. */
  #take (chunk: Buffer, n: number): boolean {
    const bounds = chunkBounds(n, this.#size, this.#chunkSize)
    if (chunk.byteLength !== bounds.end - bounds.start + 1) {
      this.destroy(new Error(`chunk ${n} has ${chunk.byteLength} bytes, expected ${bounds.end - bounds.start + 1}: the object changed under its key`))
      return false
    }
    const range = this.#ranges[this.#index]!
    const end = Math.min(range.end, bounds.end)
    const piece = chunk.subarray(this.#pos - bounds.start, end - bounds.start + 1)
    this.#pos = end + 1
    this.#onPiece?.(n, piece.byteLength)
    return this.push(piece)
  }
}
