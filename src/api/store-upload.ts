import { Transform, type Readable } from 'node:stream'
import type { ObjectStore } from '../storage/object-store.js'
import { BadRequestError, PayloadTooLargeError, StorageUnavailableError, UnsupportedMediaError } from '../errors.js'
import { SNIFF_BYTES, sniffMedia } from './sniff-media.js'

/** A multipart file stream: busboy sets `truncated` and emits 'limit' when the size limit is hit. */
export type UploadStream = Readable & { truncated?: boolean }

export interface StoreUploadOptions {
  maxBytes: number
  contentType?: string
  /** Called with the bytes written so far, at most every progressEveryBytes. */
  onProgress?: (bytes: number) => void
  progressEveryBytes?: number
}

const formatMb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`

/**
 * Streams an upload into storage at key without holding it in memory: the bytes go through as
 * they arrive, with backpressure from the store. The first bytes are sniffed (415 for what is
 * certainly not media); the size limit (413) or a failure of the source (client gone) aborts the
 * put, and the key is deleted in every failure case, so a failed upload leaves nothing behind.
 */
export async function storeUpload (storage: ObjectStore, key: string, file: UploadStream, options: StoreUploadOptions): Promise<{ size: number }> {
  const abort = new AbortController()
  let failure: Error | undefined
  let size = 0
  let head: Buffer[] | null = []
  let headBytes = 0
  let nextProgress = options.progressEveryBytes ?? 64 * 1024 * 1024

  const sniff = (): Buffer => {
    const bytes = Buffer.concat(head!)
    head = null
    const verdict = sniffMedia(bytes.subarray(0, SNIFF_BYTES))
    if (!verdict.ok) {
      throw new UnsupportedMediaError(`file: looks like ${verdict.detected}, not a video; upload a video file (MP4, MOV, MKV, WebM, ...)`)
    }
    return bytes
  }

  const gate = new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      size += chunk.length
      // The parser's own limit is the upload limit; a lower one (what is left of a quota) is kept here.
      if (size > options.maxBytes) return callback(tooLarge())
      if (size >= nextProgress) {
        options.onProgress?.(size)
        nextProgress += options.progressEveryBytes ?? 64 * 1024 * 1024
      }
      if (head === null) return callback(null, chunk)
      head.push(chunk)
      headBytes += chunk.length
      if (headBytes < SNIFF_BYTES) return callback()
      try {
        callback(null, sniff())
      } catch (err) {
        callback(err as Error)
      }
    },
    flush (callback) {
      // A truncated file ends normally after 'limit'; never let its end complete the put.
      if (file.truncated === true) return callback(tooLarge())
      if (size === 0) return callback(new BadRequestError('file: is empty; choose a video file with content'))
      if (head === null) return callback()
      try {
        callback(null, sniff())
      } catch (err) {
        callback(err as Error)
      }
    }
  })

  const tooLarge = () => new PayloadTooLargeError(`file: is larger than the upload limit of ${formatMb(options.maxBytes)} (UPLOAD_MAX_MB)`)
  const fail = (err: Error) => {
    if (failure !== undefined) return
    failure = err
    abort.abort(err)
    gate.destroy(err)
  }
  file.on('limit', () => fail(tooLarge()))
  file.on('error', fail)
  gate.on('error', fail)
  file.pipe(gate)

  try {
    await storage.put(key, gate, { contentType: options.contentType, signal: abort.signal })
  } catch (err) {
    fail(err as Error)
  }
  if (failure !== undefined) {
    file.unpipe(gate)
    // The store promises nothing is left after an aborted put; deleting again costs little and
    // covers a put that had completed just before the failure was noticed. With the store away,
    // the delete would only wait out its timeout too: it goes on without the uploader, who gets
    // the 503 at once (the S3 store deletes again a key whose put went unanswered).
    const cleanup = storage.delete(key)
    if (failure instanceof StorageUnavailableError) cleanup.catch(() => {})
    else await cleanup
    throw failure
  }
  return { size }
}
