import fp from 'fastify-plugin'
import multipart from '@fastify/multipart'
import { z } from 'zod'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Video } from '../src/db/documents.js'
import { videoKeys } from '../src/db/documents.js'
import { ID_PATTERN, newId } from '../src/db/new-id.js'
import {
  canEdit, canView, deleteVideoRecord, findVideo, insertVideo, listVideos,
  newVideoDocument, updateVideoMetadata
} from '../src/db/video-repository.js'
import { enqueueTranscode, cancelTranscode, queuePositions } from '../transcoder/job-queue.js'
import { BadRequestError, ForbiddenError, NotFoundError, PayloadTooLargeError, StorageUnavailableError, UnsupportedMediaError } from '../src/errors.js'
import { toVideoView, videoViewSchema } from '../src/api/video-view.js'
import { errorSchema } from '../src/api/error-schema.js'
import { decodeCursor, encodeCursor } from '../src/api/opaque-cursor.js'
import { storeUpload } from '../src/api/store-upload.js'
import { storageQuotaError } from '../src/api/upload-quota.js'
import {
  describeIssue, splitTagFields, uploadMetadataSchema, videoPatchSchema, DESCRIPTION_MAX, TAG_MAX, TAGS_MAX, TITLE_MAX, type UploadMetadata
} from '../src/api/video-metadata-schema.js'
import { currentUser, type AuthUser } from './auth.js'

const FIELD_NAMES = ['title', 'description', 'tags', 'visibility'] as const
const PART_LIMITS = { files: 2, fields: 40, parts: 48, fieldSize: DESCRIPTION_MAX * 4 + 1024, headerPairs: 64 }
/** Room for every form field at its largest plus part headers, beside the file itself. */
const MULTIPART_OVERHEAD_BYTES = PART_LIMITS.parts * (PART_LIMITS.fieldSize + 1024)
type FieldName = typeof FIELD_NAMES[number]
const isFieldName = (name: string): name is FieldName => (FIELD_NAMES as readonly string[]).includes(name)

const idParams = z.object({
  id: z.string().regex(ID_PATTERN, 'must be a video id (20 hexadecimal characters)')
})

const listQuery = z.object({
  status: z.enum(['uploaded', 'processing', 'ready', 'failed'], { error: 'must be one of uploaded, processing, ready, failed' }).optional(),
  limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number')
    .min(1, 'must be at least 1').max(100, 'must be at most 100').default(20),
  cursor: z.string().max(200, 'is not a cursor this endpoint gave out').optional()
})

const listSchema = z.object({
  items: z.array(videoViewSchema),
  nextCursor: z.string().nullable()
})

/** Turns the form fields into upload metadata; partial while the file has not been seen in full yet. */
function parseUploadFields (fields: Map<FieldName, string[]>, partial: boolean): Partial<UploadMetadata> {
  const input: Record<string, unknown> = {}
  for (const name of ['title', 'description', 'visibility'] as const) {
    const values = fields.get(name)
    if (values === undefined) continue
    if (values.length > 1) throw new BadRequestError(`${name}: was sent ${values.length} times; send it once`)
    input[name] = values[0]
  }
  const tags = fields.get('tags')
  if (tags !== undefined) input.tags = splitTagFields(tags)
  const parsed = (partial ? uploadMetadataSchema.partial() : uploadMetadataSchema).safeParse(input)
  if (!parsed.success) throw new BadRequestError(describeIssue(parsed.error))
  return parsed.data
}

/** Multipart parser errors, said in terms of the request a client can fix. */
function translateMultipartError (err: unknown, maxBytes: number): unknown {
  const e = err as { code?: string, message?: string, statusCode?: number }
  switch (e.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new PayloadTooLargeError(`file: is larger than the upload limit of ${Math.round(maxBytes / 1024 / 1024)} MB (UPLOAD_MAX_MB)`)
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
    case 'FST_FILES_LIMIT':
      return new BadRequestError('body: has too many parts; send one file and the fields title, description, tags, visibility')
    case 'FST_PROTO_VIOLATION':
      return new BadRequestError('body: has a field with a reserved name')
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new UnsupportedMediaError('send the upload as multipart/form-data')
  }
  // busboy's own parse errors carry no code
  if (e.code === undefined && e.statusCode === undefined && typeof e.message === 'string' &&
    /multipart|boundary|part|form/i.test(e.message)) {
    return new BadRequestError(`body: is not valid multipart/form-data (${e.message})`)
  }
  return err
}

export default fp(async function metadataPlugin (fastify) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const maxBytes = app.config.uploadMaxBytes

  /** The video, if this caller may see it; private videos of others are 404, not 403, so their existence does not leak. */
  async function loadVisible (id: string, user: AuthUser | undefined): Promise<Video> {
    const video = await findVideo(app.db, id)
    if (video === null || !canView(video, user)) throw new NotFoundError(`No video ${id}`)
    return video
  }

  async function loadEditable (id: string, user: AuthUser | undefined): Promise<Video> {
    const video = await loadVisible(id, user)
    if (!canEdit(video, user)) throw new ForbiddenError(`only the owner of video ${id} or an admin may change it`)
    return video
  }

  await app.register(async function videoRoutes (child) {
    const routes = child.withTypeProvider<ZodTypeProvider>()
    await routes.register(multipart, {
      // One file (a second is refused by name), four fields (tags may repeat), with room for
      // UTF-8 in a 5,000 character description.
      limits: { fileSize: maxBytes, ...PART_LIMITS }
    })

    routes.post('/api/videos', {
      // Teachers and admins upload; students watch.
      preHandler: app.authenticateUploader,
      config: {
        multipartBody: {
          type: 'object',
          required: ['file', 'title'],
          properties: {
            file: { type: 'string', format: 'binary', description: 'the video (any container ffmpeg reads)' },
            title: { type: 'string', minLength: 1, maxLength: TITLE_MAX },
            description: { type: 'string', maxLength: DESCRIPTION_MAX },
            tags: { type: 'string', description: `comma list, or the field repeated; at most ${TAGS_MAX} tags of 1..${TAG_MAX} characters` },
            visibility: { type: 'string', enum: ['public', 'unlisted', 'private'], default: 'public' }
          }
        }
      },
      schema: {
        tags: ['videos'],
        summary: 'Upload a video (multipart/form-data: file, title, description, tags, visibility)',
        description: 'The file streams into object storage; the answer comes once it is stored, with a transcode job queued. ' +
          'tags: a comma list or the field repeated (at most 20, 1..40 characters each); title 1..200 characters; ' +
          'description up to 5000; visibility public (default), unlisted or private.',
        consumes: ['multipart/form-data'],
        security: [{ bearerAuth: [] }],
        response: { 202: videoViewSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 413: errorSchema, 415: errorSchema, 429: errorSchema }
      }
    }, async (request, reply) => {
      if (!request.isMultipart()) {
        throw new UnsupportedMediaError('send the upload as multipart/form-data with the video in a part named "file"')
      }
      // A declared length that cannot fit is refused before a byte of it is read, rather than after
      // the client has sent gigabytes. The allowance covers the form fields and part headers.
      const declared = Number(request.headers['content-length'])
      if (Number.isFinite(declared) && declared > maxBytes + MULTIPART_OVERHEAD_BYTES) {
        reply.header('connection', 'close')
        throw new PayloadTooLargeError(`file: is larger than the upload limit of ${Math.round(maxBytes / 1024 / 1024)} MB (UPLOAD_MAX_MB); the request declares ${Math.round(declared / 1024 / 1024)} MB`)
      }
      const user = request.user
      // The account's quotas (storage, uploads at once, transcodes waiting) before a byte is read.
      let admitted
      try {
        admitted = await app.uploadQuota.admit(user, Number.isFinite(declared) ? declared : undefined)
      } catch (err) {
        reply.header('connection', 'close')
        throw err
      }
      const id = newId()
      const key = videoKeys.original(id)
      const fields = new Map<FieldName, string[]>()
      let stored: { size: number, name: string | null } | undefined
      let putStarted = false
      try {
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            if (part.fieldname !== 'file') {
              throw new BadRequestError(`${part.fieldname}: is a file, but the video goes in a part named "file"`)
            }
            if (stored !== undefined) throw new BadRequestError('file: was sent twice; upload one video per request')
            // Fields sent before the file are checked now, so a bad title does not cost the upload.
            parseUploadFields(fields, true)
            putStarted = true
            const started = Date.now()
            const { size } = await storeUpload(app.storage, key, part.file, {
              maxBytes: Math.min(maxBytes, admitted.remainingBytes),
              contentType: part.mimetype.startsWith('video/') ? part.mimetype : 'application/octet-stream',
              progressEveryBytes: 256 * 1024 * 1024,
              onProgress: (bytes) => request.log.info({ videoId: id, bytes }, 'upload in progress')
            })
            stored = { size, name: part.filename === '' ? null : part.filename.slice(0, 255) }
            request.log.info({ videoId: id, bytes: size, ms: Date.now() - started }, 'upload stored')
          } else {
            if (!isFieldName(part.fieldname)) {
              throw new BadRequestError(`${part.fieldname}: is not a field of an upload; send file, title, description, tags, visibility`)
            }
            if (part.valueTruncated) throw new BadRequestError(`${part.fieldname}: is too long`)
            const values = fields.get(part.fieldname) ?? []
            values.push(String(part.value))
            fields.set(part.fieldname, values)
          }
        }
        if (stored === undefined) throw new BadRequestError('file: is missing; send the video in a multipart part named "file"')
        // Fields sent after the file are only known now; a bad one still leaves nothing behind.
        const metadata = parseUploadFields(fields, false) as UploadMetadata
        const video = newVideoDocument({ id, owner: user.sub, ...metadata, originalSize: stored.size, originalName: stored.name })
        await insertVideo(app.db, video)
        try {
          await enqueueTranscode(app.db, id, user.sub)
        } catch (err) {
          await deleteVideoRecord(app.db, id).catch((e: unknown) => request.log.error({ err: e, videoId: id }, 'could not roll back the video record'))
          throw err
        }
        reply.code(202).header('location', `/api/videos/${id}`).header('cache-control', 'no-store')
        // Its place in the transcode queue, as GET /api/videos/:id says it.
        const positions = await queuePositions(app.db, [id]).catch(() => new Map<string, number>())
        return toVideoView(video, positions.get(id) ?? null)
      } catch (err) {
        if (putStarted) {
          const cleanup = app.storage.delete(key).catch((e: unknown) => request.log.error({ err: e, key }, 'could not delete a failed upload'))
          // With the store away, storeUpload has begun its delete already; the uploader is not kept waiting for either.
          if (!(err instanceof StorageUnavailableError)) await cleanup
        }
        // The client may still be sending a large body we will not read: close the connection after answering.
        reply.header('connection', 'close')
        if (err instanceof PayloadTooLargeError && admitted.remainingBytes < maxBytes) {
          throw storageQuotaError(app.uploadQuota.limits.storageBytes - admitted.remainingBytes, app.uploadQuota.limits.storageBytes)
        }
        throw translateMultipartError(err, maxBytes)
      } finally {
        admitted.release()
      }
    })

    routes.get('/api/videos', {
      preHandler: app.authenticate,
      schema: {
        tags: ['videos'],
        summary: 'The caller\'s videos (an admin sees everyone\'s), newest first',
        security: [{ bearerAuth: [] }],
        querystring: listQuery,
        response: { 200: listSchema, 400: errorSchema, 401: errorSchema }
      }
    }, async (request, reply) => {
      const { status, limit, cursor } = request.query
      let after
      if (cursor !== undefined) {
        const c = decodeCursor(cursor, { c: 'number', id: 'string' })
        after = { createdAt: new Date(c.c as number), id: c.id as string }
      }
      const owner = request.user.role === 'admin' ? undefined : request.user.sub
      const found = await listVideos(app.db, { owner, status, limit, after })
      const items = found.slice(0, limit)
      const last = items[items.length - 1]
      const positions = await queuePositions(app.db, items.filter((v) => v.status === 'uploaded').map((v) => v._id))
      reply.header('cache-control', 'no-store')
      return {
        items: items.map((v) => toVideoView(v, positions.get(v._id) ?? null)),
        nextCursor: found.length > limit && last !== undefined
          ? encodeCursor({ c: new Date(last.createdAt).getTime(), id: last._id })
          : null
      }
    })

    routes.get('/api/videos/:id', {
      preHandler: app.authenticateOptional,
      schema: {
        tags: ['videos'],
        summary: 'One video; public and unlisted ones are readable by anyone',
        params: idParams,
        response: { 200: videoViewSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema }
      }
    }, async (request, reply) => {
      const video = await loadVisible(request.params.id, currentUser(request))
      reply.header('cache-control', video.visibility === 'private' ? 'private, no-store' : 'no-cache')
      const positions = await queuePositions(app.db, video.status === 'uploaded' ? [video._id] : [])
      return toVideoView(video, positions.get(video._id) ?? null)
    })

    routes.patch('/api/videos/:id', {
      preHandler: app.authenticate,
      schema: {
        tags: ['videos'],
        summary: 'Change title, description, tags or visibility (owner or admin)',
        security: [{ bearerAuth: [] }],
        params: idParams,
        body: videoPatchSchema,
        response: { 200: videoViewSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema }
      }
    }, async (request, reply) => {
      const { id } = request.params
      await loadEditable(id, request.user)
      const updated = await updateVideoMetadata(app.db, id, request.body)
      if (updated === null) throw new NotFoundError(`No video ${id}`)
      await app.searchIndex.refresh(id)
      reply.header('cache-control', 'no-store')
      return toVideoView(updated)
    })

    routes.delete('/api/videos/:id', {
      preHandler: app.authenticate,
      schema: {
        tags: ['videos'],
        summary: 'Delete a video, its stored objects and cache entries; a transcode in progress is cancelled (owner or admin)',
        security: [{ bearerAuth: [] }],
        params: idParams,
        response: { 204: z.null().describe('deleted'), 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema }
      }
    }, async (request, reply) => {
      const { id } = request.params
      await loadEditable(id, request.user)
      // Jobs first, so a worker stops writing; then the bytes; the record goes last, so a failure
      // half-way leaves a video that can be deleted again rather than orphaned objects.
      const cancelled = await cancelTranscode(app.db, id)
      const removed = await app.storage.deletePrefix(videoKeys.prefix(id))
      await app.storage.delete(videoKeys.original(id))
      await app.cache.deletePrefix(videoKeys.prefix(id))
      await deleteVideoRecord(app.db, id)
      app.searchIndex.remove(id)
      request.log.info({ videoId: id, objects: removed + 1, cancelledJobs: cancelled }, 'video deleted')
      reply.code(204)
      return null
    })
  })
}, { fastify: '5.x', name: 'lectern-metadata', dependencies: ['lectern-auth', 'lectern-db', 'lectern-storage', 'lectern-cache', 'lectern-search'] })
