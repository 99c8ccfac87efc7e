import { Transform, type Readable } from 'node:stream'
import { DataStore, Upload } from '@tus/utils'
import { UnsupportedMediaError } from '../errors.js'
import { SNIFF_BYTES, sniffMedia } from '../api/sniff-media.js'
import { tusError } from './tus-error.js'

export interface GuardedStoreOptions {
  /** The key the backend stores an upload under (S3: originals/<id>, so a finished upload is the original). */
  keyOf?: (id: string) => string
  /** Called once an upload's bytes are removed (terminated, refused, expired): its record goes too. */
  onRemoved: (id: string) => Promise<void>
  /** Removes what the tus store keeps beside a completed upload, never the original itself. */
  forget: (key: string) => Promise<void>
}

/** Refuses the first bytes of what is certainly not media, as the multipart upload does. */
class SniffGate extends Transform {
  refusal: Error | undefined
  private head: Buffer[] | null = []
  private headBytes = 0

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null, data?: Buffer) => void): void {
    if (this.head === null) return callback(null, chunk)
    this.head.push(chunk)
    this.headBytes += chunk.length
    if (this.headBytes < SNIFF_BYTES) return callback()
    this.release(callback)
  }

  override _flush (callback: (err?: Error | null, data?: Buffer) => void): void {
    // The body ended before SNIFF_BYTES (a short first PATCH, or a dropped connection): judge what came.
    if (this.head === null || this.headBytes === 0) return callback()
    this.release(callback)
  }

  private release (callback: (err?: Error | null, data?: Buffer) => void): void {
    const bytes = Buffer.concat(this.head!)
    this.head = null
    const verdict = sniffMedia(bytes.subarray(0, SNIFF_BYTES))
    if (verdict.ok) return callback(null, bytes)
    this.refusal = new UnsupportedMediaError(`file: looks like ${verdict.detected}, not a video; upload a video file (MP4, MOV, MKV, WebM, ...)`)
    callback(this.refusal)
  }
}

/**
 * A tus DataStore around the real one (@tus/file-store or @tus/s3-store) that adds what Lectern
 * needs of every upload: the first bytes are sniffed before any is stored (a non-video is a 415
 * and its upload is removed at once, not after gigabytes), uploads of unknown length are not
 * offered, and ids map to the backend's keys.
 */
export class GuardedStore extends DataStore {
  private readonly keyOf: (id: string) => string

  constructor (readonly inner: DataStore, private readonly options: GuardedStoreOptions) {
    super()
    this.keyOf = options.keyOf ?? ((id) => id)
    // Lectern needs the size up front: UPLOAD_MAX_MB is checked before a byte is stored.
    this.extensions = inner.extensions.filter((e) => e !== 'creation-defer-length')
  }

  private asOurs (upload: Upload, id: string): Upload {
    return new Upload({ id, size: upload.size, offset: upload.offset, metadata: upload.metadata, creation_date: upload.creation_date, storage: upload.storage })
  }

  override async create (upload: Upload): Promise<Upload> {
    const created = await this.inner.create(new Upload({ ...upload, id: this.keyOf(upload.id), metadata: upload.metadata }))
    // PostHandler goes on with the object it passed in.
    upload.creation_date = created.creation_date
    upload.storage = created.storage
    return upload
  }

  override async remove (id: string): Promise<void> {
    try {
      await this.inner.remove(this.keyOf(id))
    } catch (err) {
      // Already gone is removed; anything else keeps the record, so the sweep tries again.
      if ((err as { status_code?: number }).status_code !== 404) throw err
    }
    await this.options.onRemoved(id)
  }

  override async write (stream: Readable, id: string, offset: number): Promise<number> {
    if (offset > 0) return await this.inner.write(stream, this.keyOf(id), offset)
    const gate = new SniffGate()
    // A store may look things up before it reads (S3): a refusal that comes first must wait for
    // it as an error of the stream it is handed, not go unheard.
    gate.on('error', () => {})
    stream.on('error', (err) => gate.destroy(err))
    stream.pipe(gate)
    try {
      return await this.inner.write(gate, this.keyOf(id), offset)
    } catch (err) {
      if (gate.refusal === undefined) throw err
      // Stores wrap stream errors in their own; the refusal is what the client must hear.
      await this.remove(id).catch(() => {})
      throw tusError(gate.refusal)
    }
  }

  override async getUpload (id: string): Promise<Upload> {
    return this.asOurs(await this.inner.getUpload(this.keyOf(id)), id)
  }

  override async declareUploadLength (id: string, length: number): Promise<void> {
    await this.inner.declareUploadLength(this.keyOf(id), length)
  }

  override async deleteExpired (): Promise<number> {
    return await this.inner.deleteExpired()
  }

  override getExpiration (): number {
    return this.inner.getExpiration()
  }

  /** Drops the tus bookkeeping of a completed upload (the original stays: it is the video's). */
  async forget (id: string): Promise<void> {
    await this.options.forget(this.keyOf(id))
  }
}
