import { stat } from 'node:fs/promises'
import type { ReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import type { Part } from '@aws-sdk/client-s3'
import { S3Store, type MetadataValue } from '@tus/s3-store'
import type { KvStore } from '@tus/utils'
import type { FastifyBaseLogger } from 'fastify'
import type { S3Config } from '../config.js'
import { s3ClientConfig } from '../storage/s3-client-config.js'
import type { Database } from '../db/collection.js'
import { consecutiveParts, findUploadRecord, recordPart } from './upload-record.js'

/** Where the tus bookkeeping of an upload lives in the bucket (beside, never among, the originals). */
export const S3_UPLOAD_PREFIX = 'uploads/'
const ORIGINALS = 'originals/'
/** S3's minimum for every part but the last; also what a PATCH's tail below it is kept as. */
const PART_SIZE = 8 * 1024 * 1024

const idOf = (key: string) => key.startsWith(ORIGINALS) ? key.slice(ORIGINALS.length) : key

/** Metadata is read from S3 each time: another node may have changed it, and the read is small. */
class NoCache implements KvStore<MetadataValue> {
  async get (): Promise<undefined> { return undefined }
  async set (): Promise<void> {}
  async delete (): Promise<void> {}
}

export interface S3UploadStoreOptions {
  config: S3Config
  db: Database
  expiryMs: number
  log: FastifyBaseLogger
}

/**
 * @tus/s3-store with three changes. The multipart upload is made at the original's own key
 * (`originals/<id>`), so a completed upload is the video's original with no copy; its `.info` and
 * pending `.part` objects live under `uploads/`. The parts stored so far are recorded in the
 * upload's record in the metadata store as each completes, and read from there rather than from
 * ListParts (which some S3-compatible stores, s3rver among them, do not offer); only an unbroken
 * run 1..n counts. And a store that cannot abort a multipart upload does not stop the removal of
 * the rest.
 */
export class S3UploadStore extends S3Store {
  private readonly db: Database
  private readonly log: FastifyBaseLogger

  constructor ({ config, db, expiryMs, log }: S3UploadStoreOptions) {
    super({
      partSize: PART_SIZE,
      cache: new NoCache(),
      expirationPeriodInMilliseconds: expiryMs,
      // Expiry is Lectern's sweep, not object tags (not every S3-compatible store has them).
      useTags: false,
      maxConcurrentPartUploads: 4,
      s3ClientConfig: { bucket: config.bucket, ...s3ClientConfig(config, 16) }
    })
    this.db = db
    this.log = log
  }

  /** A PATCH at the final offset (a client whose last answer was lost) has nothing to add to a completed upload. */
  override async write (src: Readable, key: string, offset: number): Promise<number> {
    const { file } = await this.getMetadata(key)
    if (file.size !== undefined && offset >= file.size) {
      src.resume()
      return offset
    }
    return await super.write(src, key, offset)
  }

  protected override infoKey (key: string): string {
    return `${S3_UPLOAD_PREFIX}${idOf(key)}.info`
  }

  protected override partKey (key: string, isIncomplete = false): string {
    return isIncomplete ? `${S3_UPLOAD_PREFIX}${idOf(key)}.part` : key
  }

  protected override async uploadPart (metadata: MetadataValue, body: ReadStream | Readable | Buffer, partNumber: number): Promise<string> {
    const size = Buffer.isBuffer(body) ? body.length : (await stat((body as ReadStream).path)).size
    const etag = await super.uploadPart(metadata, body, partNumber)
    await recordPart(this.db, idOf(metadata.file.id), { n: partNumber, etag, size })
    return etag
  }

  protected override async retrieveParts (key: string): Promise<Part[]> {
    const record = await findUploadRecord(this.db, idOf(key))
    return consecutiveParts(record?.parts ?? []).map((p) => ({ PartNumber: p.n, ETag: p.etag, Size: p.size }))
  }

  override async remove (key: string): Promise<void> {
    const metadata = await this.getMetadata(key).catch(() => undefined)
    if (metadata?.['upload-id'] !== undefined) {
      try {
        await this.client.abortMultipartUpload({ Bucket: this.bucket, Key: key, UploadId: metadata['upload-id'] })
      } catch (err) {
        const name = (err as { name?: string }).name ?? ''
        // Already completed or aborted: nothing is pending.
        if (name !== 'NoSuchUpload') {
          this.log.warn({ err, key }, 'could not abort the multipart upload of a removed resumable upload; its parts stay until a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes them')
        }
      }
    }
    // The object itself exists only if the upload completed; removing a refused or expired upload
    // that never completed deletes nothing there.
    await this.client.deleteObjects({
      Bucket: this.bucket,
      Delete: { Objects: [{ Key: key }, { Key: this.infoKey(key) }, { Key: this.partKey(key, true) }], Quiet: true }
    })
  }

  /** The bookkeeping of a completed upload: its .info (and a .part, if one was left). */
  async forget (key: string): Promise<void> {
    await this.client.deleteObjects({
      Bucket: this.bucket,
      Delete: { Objects: [{ Key: this.infoKey(key) }, { Key: this.partKey(key, true) }], Quiet: true }
    })
  }

  /** Expired uploads are found through their records (Lectern's sweep), not by listing the bucket's multipart uploads. */
  override async deleteExpired (): Promise<number> {
    return 0
  }

  close (): void {
    this.client.destroy()
  }
}
