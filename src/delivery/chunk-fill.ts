import type { Readable } from 'node:stream'

/**
 * A chunk on its way from storage. Readers take the bytes that have arrived while the rest is
 * still being read, so a miss is sent on as it streams in (reads and socket writes overlap, as in a
 * pipe) and still ends up cached whole by the one origin read that filled it.
 */
export class ChunkFill {
  readonly buffer: Buffer
  /** bytes of buffer written so far */
  filled = 0
  /** the finished chunk: this fill's buffer, or one the cache had (L2) or loaded elsewhere */
  result: Buffer | undefined
  error: Error | undefined
  #waiters: Array<() => void> = []
  #wakeQueued = false
  readonly #queuedWake = () => {
    this.#wakeQueued = false
    this.#wake()
  }

  /** Fills `buffer` when given (a recycled chunk buffer), else a new one of `length` bytes. */
  constructor (length: number, buffer?: Buffer) {
    if (buffer !== undefined && buffer.byteLength !== length) throw new RangeError(`a fill of ${length} bytes was given a ${buffer.byteLength}-byte buffer`)
    this.buffer = buffer ?? Buffer.allocUnsafe(length)
  }

  /**
   * Copies a storage stream into the buffer, waking readers at every piece; the stream must hold
   * exactly the chunk. The stream flows (rather than being iterated) so that each read is issued
   * as soon as the previous piece is handed over, not after our copy has run.
   */
  read (stream: Readable): Promise<Buffer> {
    const length = this.buffer.byteLength
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        stream.destroy()
        reject(err)
      }
      stream.on('data', (piece: Buffer) => {
        if (this.filled + piece.byteLength > length) {
          fail(new Error(`storage sent more than the ${length} bytes of the chunk`))
          return
        }
        piece.copy(this.buffer, this.filled)
        this.filled += piece.byteLength
        // Readers write to their sockets after this handler has returned, so storage gets the next
        // read issued first and reading overlaps the socket writes.
        if (!this.#wakeQueued) {
          this.#wakeQueued = true
          queueMicrotask(this.#queuedWake)
        }
      })
      stream.once('error', fail)
      // A stream torn down without 'end' or 'error' must not leave the chunk's readers waiting.
      stream.once('close', () => reject(new Error(`storage closed the stream after ${this.filled} of the ${length} bytes of the chunk`)))
      stream.once('end', () => {
        if (this.filled !== length) fail(new Error(`storage sent ${this.filled} of the ${length} bytes of the chunk`))
        else resolve(this.buffer)
      })
    })
  }

  settle (result: Buffer): void {
    this.result = result
    this.#wake()
  }

  fail (error: Error): void {
    this.error = error
    this.#wake()
  }

  /** Calls back once, at the next piece or when the fill settles. */
  onProgress (callback: () => void): void {
    this.#waiters.push(callback)
  }

  #wake (): void {
    if (this.#waiters.length === 0) return
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }
}
