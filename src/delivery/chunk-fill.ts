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

  constructor (length: number) {
    this.buffer = Buffer.allocUnsafe(length)
  }

  /** Copies a storage stream into the buffer, waking readers at every piece; the stream must hold exactly the chunk. */
  async read (stream: Readable): Promise<Buffer> {
    const length = this.buffer.byteLength
    try {
      for await (const piece of stream as AsyncIterable<Buffer>) {
        if (this.filled + piece.byteLength > length) throw new Error(`storage sent more than the ${length} bytes of the chunk`)
        piece.copy(this.buffer, this.filled)
        this.filled += piece.byteLength
        this.#wake()
      }
    } finally {
      stream.destroy()
    }
    if (this.filled !== length) throw new Error(`storage sent ${this.filled} of the ${length} bytes of the chunk`)
    return this.buffer
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
