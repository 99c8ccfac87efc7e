import { constants as fsConstants, createReadStream } from 'node:fs'
import { link, mkdir, open, unlink } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { dirname, join } from 'node:path'
import { Server, MemoryLocker, EVENTS, type Locker, type Upload } from '@tus/server'
import { FileStore } from '@tus/file-store'
import type { ServerRequest } from 'srvx'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { Database } from '../db/collection.js'
import type { ObjectStore } from '../storage/object-store.js'
import { FsObjectStore } from '../storage/fs-object-store.js'
import { videoKeys } from '../db/documents.js'
import { newId, ID_PATTERN } from '../db/new-id.js'
import { deleteVideoRecord, findVideo, insertVideo, newVideoDocument } from '../db/video-repository.js'
import { enqueueTranscode, queuePositions } from '../../transcoder/job-queue.js'
import { toVideoView } from '../api/video-view.js'
import { BadRequestError, ForbiddenError, NotFoundError, PayloadTooLargeError, StorageUnavailableError, UnauthorizedError, isDependencyUnavailable, isDuplicateKey, unreachableReason } from '../errors.js'
import { GuardedStore } from './guarded-store.js'
import { S3UploadStore } from './s3-upload-store.js'
import { parseUploadMetadata } from './upload-metadata.js'
import { tusError } from './tus-error.js'
import {
  claimFinish, deleteUploadRecord, ensureUploadIndexes, expiredUploadRecords, findUploadRecord, finishedUploadRecords,
  insertUploadRecord, setUploadState, type UploadRecord
} from './upload-record.js'

/** The route prefix: uploads are /api/uploads/<id>, and <id> is the id of the video it becomes. */
export const UPLOADS_PATH = '/api/uploads'

/** Who is signed in on a request, as the auth preHandler found it. */
export interface Uploader {
  sub: string
}

export interface ResumableUploadsOptions {
  config: Config
  db: Database
  storage: ObjectStore
  log: FastifyBaseLogger
  /** Shared locks across API nodes (RedisLocker); a process-local lock otherwise. */
  locker?: Locker
  /** The signed-in user of a request (the plugin's auth hook recorded it). */
  uploaderOf: (req: IncomingMessage) => Uploader | undefined
}

const formatMb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`

/**
 * Resumable uploads over the tus protocol (@tus/server), with Lectern's rules around them:
 * signed-in users only, each upload its creator's; metadata validated and the size checked when
 * the upload is created; a non-video refused at its first bytes; and a completed upload turned
 * into a video exactly as a multipart upload is (the original at originals/<id>, the video
 * record, the transcode job). Bytes go to DATA_DIR/uploads (fs store, then hard-linked into
 * place) or straight into an S3 multipart upload at the original's key.
 */
export class ResumableUploads {
  readonly tus: Server
  readonly store: GuardedStore
  private readonly config: Config
  private readonly db: Database
  private readonly storage: ObjectStore
  private readonly log: FastifyBaseLogger
  private readonly uploaderOf: ResumableUploadsOptions['uploaderOf']
  private readonly directory: string | undefined
  private readonly s3: S3UploadStore | undefined

  constructor (options: ResumableUploadsOptions) {
    const { config, db, storage, log } = options
    this.config = config
    this.db = db
    this.storage = storage
    this.log = log
    this.uploaderOf = options.uploaderOf
    const expiryMs = config.uploadExpiryMs
    let inner
    if (storage.kind === 's3') {
      if (config.s3 === undefined) throw new Error('the object store is S3 but the configuration names no bucket (S3_BUCKET)')
      this.s3 = new S3UploadStore({ config: config.s3, db, expiryMs, log })
      inner = this.s3
    } else {
      this.directory = join(config.dataDir, 'uploads')
      inner = new FileStore({ directory: this.directory, expirationPeriodInMilliseconds: expiryMs })
    }
    const s3 = this.s3
    this.store = new GuardedStore(inner, {
      keyOf: s3 !== undefined ? (id) => videoKeys.original(id) : undefined,
      onRemoved: async (id) => { await deleteUploadRecord(db, id) },
      forget: s3 !== undefined ? async (key) => { await s3.forget(key) } : async (key) => { await this.forgetFile(key) }
    })

    this.tus = new Server({
      path: UPLOADS_PATH,
      datastore: this.store,
      locker: options.locker ?? new MemoryLocker(),
      // Behind nginx (TRUST_PROXY), Location is built from X-Forwarded-Host and -Proto.
      respectForwardedHeaders: config.trustProxy,
      // A long PATCH reports how far it got (the log line below) this often.
      postReceiveInterval: 30_000,
      // The pages are same-origin; no other site's script may drive uploads with a user's token.
      allowedOrigins: () => false,
      // A finished upload is a video now: it is deleted as one (DELETE /api/videos/:id).
      disableTerminationForFinishedUploads: true,
      namingFunction: () => newId(),
      getFileIdFromRequest: (_req, id) => id !== undefined && ID_PATTERN.test(id) ? id : undefined,
      onIncomingRequest: async (req, id) => { await this.authorize(req, id) },
      onUploadCreate: async (req, upload) => await this.create(req, upload),
      onUploadFinish: async (req, upload) => await this.finished(req, upload.id),
      onResponseError: (req, err) => {
        // Storage away: a 503 the client may retry (tus-js-client does), not a 500.
        if (isDependencyUnavailable(err) || unreachableReason(err) !== undefined) {
          this.log.warn({ method: req.method, url: req.url, reason: unreachableReason(err) ?? (err as Error).message }, 'resumable upload refused: storage unreachable')
          return tusError(isDependencyUnavailable(err) ? err as { statusCode?: number, code?: string, message: string } : new StorageUnavailableError())
        }
        if (err instanceof Error) this.log.error({ err, method: req.method, url: req.url }, 'resumable upload failed')
        return undefined
      }
    })
    this.tus.on(EVENTS.POST_RECEIVE, (_req: unknown, upload: Upload) => { this.progress(upload) })
  }

  private progress (upload: Upload): void {
    this.log.info({ uploadId: upload.id, bytes: upload.offset, of: upload.size }, 'resumable upload in progress')
  }

  private uploader (req: ServerRequest): Uploader {
    const node = (req.runtime as { node?: { req?: IncomingMessage } } | undefined)?.node?.req
    const user = node === undefined ? undefined : this.uploaderOf(node)
    if (user === undefined) throw tusError(new UnauthorizedError('sign in first: send Authorization: Bearer <token> (from POST /api/auth/login)'))
    return user
  }

  /** Every request on an existing upload: it must exist, and be the caller's. */
  private async authorize (req: ServerRequest, id: string): Promise<void> {
    const user = this.uploader(req)
    // POST asks about the id it has just named: there is nothing to own yet.
    if (req.method === 'POST') return
    const record = await findUploadRecord(this.db, id)
    if (record === null) throw tusError(new NotFoundError(`no upload ${id} (it may have expired or been cancelled); start the upload again`))
    if (record.owner !== user.sub) throw tusError(new ForbiddenError(`upload ${id} belongs to another user`))
  }

  /** POST: checks the fields and the size before anything is stored, and records the owner. */
  private async create (req: ServerRequest, upload: Upload): Promise<{ metadata?: Upload['metadata'] }> {
    const user = this.uploader(req)
    let fields
    try {
      fields = parseUploadMetadata(upload.metadata)
    } catch (err) {
      throw tusError(err as Error)
    }
    const max = this.config.uploadMaxBytes
    if (upload.size === undefined) throw tusError(new BadRequestError('Upload-Length: is required; send the file size'))
    if (upload.size === 0) throw tusError(new BadRequestError('file: is empty; choose a video file with content'))
    if (upload.size > max) {
      throw tusError(new PayloadTooLargeError(`file: is larger than the upload limit of ${formatMb(max)} (UPLOAD_MAX_MB); Upload-Length says ${formatMb(upload.size)}`))
    }
    const now = new Date()
    const record: UploadRecord = {
      _id: upload.id,
      owner: user.sub,
      fields,
      size: upload.size,
      state: 'receiving',
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.config.uploadExpiryMs),
      parts: []
    }
    await insertUploadRecord(this.db, record)
    this.log.info({ uploadId: upload.id, owner: user.sub, bytes: upload.size }, 'resumable upload created')
    return {}
  }

  /**
   * The answer to the request that completed an upload: 204, as tus requires; or, to a PATCH that
   * asks for JSON (`Accept: application/json`), the 202 with the video that the multipart upload
   * answers, and its Location. (A POST keeps its 201: tus clients need its Location.)
   */
  private async finished (req: ServerRequest, id: string): Promise<{ status_code?: number, headers?: Record<string, string>, body?: string }> {
    await this.finish(id)
    if (req.method !== 'PATCH' || !/\bapplication\/json\b/.test(req.headers.get('accept') ?? '')) return {}
    const video = await findVideo(this.db, id)
    if (video === null) return {}
    const positions = video.status === 'uploaded' ? await queuePositions(this.db, [id]).catch(() => new Map<string, number>()) : new Map<string, number>()
    return {
      status_code: 202,
      headers: { 'Content-Type': 'application/json; charset=utf-8', Location: `/api/videos/${id}`, 'Cache-Control': 'no-store' },
      body: JSON.stringify(toVideoView(video, positions.get(id) ?? null))
    }
  }

  /**
   * The last byte has arrived: the upload becomes a video. Idempotent (a repeated final PATCH, or
   * two at once on two nodes, make one video): one caller claims the record, the others find it
   * claimed. A failure puts the record back, so the next PATCH at the final offset tries again.
   */
  async finish (id: string): Promise<void> {
    const record = await claimFinish(this.db, id)
    if (record === null) {
      const existing = await findUploadRecord(this.db, id)
      if (existing === null) throw tusError(new NotFoundError(`no upload ${id}`))
      return
    }
    const started = Date.now()
    let inserted = false
    try {
      const key = videoKeys.original(id)
      if (this.s3 === undefined) await this.placeFile(id, key)
      const stored = await this.storage.head(key)
      if (stored.size !== record.size) throw new Error(`the stored original is ${stored.size} bytes, but the upload declared ${record.size}`)
      const { originalName, ...metadata } = record.fields
      const video = newVideoDocument({ id, owner: record.owner, ...metadata, originalSize: record.size, originalName })
      try {
        await insertVideo(this.db, video)
        inserted = true
      } catch (err) {
        // A node that died between insert and marking the record complete left the video: keep it.
        if (!isDuplicateKey(err)) throw err
      }
      if (inserted) await enqueueTranscode(this.db, id, record.owner)
      await setUploadState(this.db, id, 'complete')
      this.log.info({ videoId: id, bytes: record.size, ms: Date.now() - started }, 'resumable upload stored')
    } catch (err) {
      if (inserted) await deleteVideoRecord(this.db, id).catch((e: unknown) => this.log.error({ err: e, videoId: id }, 'could not roll back the video record'))
      await setUploadState(this.db, id, 'receiving').catch(() => {})
      throw err
    }
  }

  /**
   * The fs store's finished file becomes the object store's original by a hard link (no copy);
   * the tus file stays until the sweep, so a HEAD still reports the upload complete. Another
   * filesystem, or a store elsewhere, gets a streamed copy.
   */
  private async placeFile (id: string, key: string): Promise<void> {
    const source = join(this.directory!, id)
    // The tus store does not sync its writes; the original must be durable before the video exists.
    const handle = await open(source, fsConstants.O_RDONLY)
    try { await handle.sync() } finally { await handle.close() }
    if (this.storage instanceof FsObjectStore) {
      const target = join(this.storage.root, key)
      await mkdir(dirname(target), { recursive: true })
      try {
        await link(source, target)
        return
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'EEXIST') return
        if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err
      }
    }
    await this.storage.put(key, createReadStream(source), { contentType: 'application/octet-stream' })
  }

  private async forgetFile (id: string): Promise<void> {
    for (const path of [join(this.directory!, id), join(this.directory!, `${id}.json`)]) {
      await unlink(path).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
    }
  }

  /**
   * Removes expired uploads: an unfinished one loses its bytes (an S3 multipart upload is aborted)
   * and its record; a finished one only the tus bookkeeping beside its original, which is the
   * video's now (at once if the video was deleted). Returns how many were swept.
   */
  async sweep (now = new Date()): Promise<number> {
    let swept = 0
    for (;;) {
      const expired = await expiredUploadRecords(this.db, now)
      if (expired.length === 0) break
      for (const record of expired) {
        const id = record._id
        try {
          if (await findVideo(this.db, id) !== null) {
            await this.store.forget(id)
            await deleteUploadRecord(this.db, id)
          } else {
            await this.store.remove(id)
            // A finish that stopped half-way may have placed the original without a video.
            await this.storage.delete(videoKeys.original(id))
            await deleteUploadRecord(this.db, id)
          }
          swept++
        } catch (err) {
          this.log.warn({ err, uploadId: id }, 'could not remove an expired upload; the next sweep tries again')
          return swept
        }
      }
    }
    // A video deleted before its upload expired: the tus file (on disk, a second link to the
    // original's bytes) goes now, not a day later.
    for (const record of await finishedUploadRecords(this.db)) {
      if (await findVideo(this.db, record._id) !== null) continue
      try {
        await this.store.forget(record._id)
        await deleteUploadRecord(this.db, record._id)
        swept++
      } catch (err) {
        this.log.warn({ err, uploadId: record._id }, 'could not remove the upload of a deleted video; the next sweep tries again')
      }
    }
    if (swept > 0) this.log.info({ swept }, 'expired resumable uploads removed')
    return swept
  }

  async init (): Promise<void> {
    if (this.directory !== undefined) await mkdir(this.directory, { recursive: true })
    await ensureUploadIndexes(this.db)
  }

  close (): void {
    this.s3?.close()
  }
}
