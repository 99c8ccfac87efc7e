import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import { z } from 'zod'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { ByteRange, ObjectStore } from '../storage/object-store.js'
import type { Rendition, Video } from '../db/documents.js'
import { SEGMENT_NAME, segmentName, videoKeys } from '../db/documents.js'
import { ID_PATTERN } from '../db/new-id.js'
import { VIDEOS, canEdit, canView, findVideo, type Viewer } from '../db/video-repository.js'
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../errors.js'
import { deriveKey } from '../secrets.js'
import { issuePlaybackToken, verifyPlaybackToken } from './playback-token.js'
import { rewritePlaylist } from './rewrite-playlist.js'
import { ObjectInfoCache } from './object-info-cache.js'
import { CORS_HEADERS, IMMUTABLE, IMMUTABLE_PRIVATE, PLAYLIST, PLAYLIST_PRIVATE, servedObject, type ServedObject } from './served-object.js'
import { CHUNK_SIZE, chunkBounds, chunkKey } from './chunked-body.js'
import { ChunkFill } from './chunk-fill.js'
import { ChunkPool, ResponseHolds } from './chunk-pool.js'
import { sendBuffer, sendChunked } from './send-bytes.js'
import { ViewSessions, viewSessionKey } from './view-sessions.js'

export interface DeliveryOptions {
  /** How long a looked-up video document is reused; bounds how late a visibility change or deletion is seen. */
  videoTtlMs?: number
  /** Window in which repeated requests of one session count as one view. */
  viewWindowMs?: number
  chunkSize?: number
}

const MPEGURL = 'application/vnd.apple.mpegurl'
const CONTENT_TYPES = { segment: 'video/mp2t', progressive: 'video/mp4', poster: 'image/jpeg', playlist: MPEGURL } as const
const DEFAULT_VIDEO_TTL_MS = 1000
const MAX_REMEMBERED_VIDEOS = 10_000
const PASS_THROUGH_RECHECK = 256
/** Evicted chunk buffers kept for the next fills; more are left to the garbage collector. */
const MAX_IDLE_CHUNKS = 8

/**
 * Access granted to one request: the playback token that opened it, if any, and whether the
 * answer may be kept by shared caches (only for public videos: an owner's bearer fetch of a
 * private video, like a token holder's, is private to that viewer).
 */
interface Access {
  video: Video
  token: string | undefined
  shared: boolean
}

const playbackSchema = z.object({
  token: z.string().describe('playback token; append as ?token= (the URLs below already carry it when needed)'),
  expiresAt: z.string().describe('ISO 8601 time after which the token is refused'),
  hlsUrl: z.string(),
  streamUrl: z.string()
})

/** Reads a whole object of a known size into one Buffer (one origin read, checked for length). */
async function readWhole (storage: ObjectStore, key: string, size: number): Promise<Buffer> {
  if (size === 0) return Buffer.alloc(0)
  return await new ChunkFill(size).read(await storage.get(key, { range: { start: 0, end: size - 1 } }))
}

function tokenOf (request: FastifyRequest): string | undefined {
  const t = (request.query as Record<string, unknown> | undefined)?.token
  return typeof t === 'string' ? t : undefined
}

/**
 * Delivery: progressive MP4 with byte ranges, and HLS, from storage through the two-tier cache.
 * Every byte answer is written straight to the socket (reply.hijack) with header arrays worked
 * out once per object, so a cache hit costs a routing lookup, a map lookup and one write.
 */
async function delivery (fastify: FastifyInstance, options: DeliveryOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { storage, cache, db, config } = app
  const key = deriveKey(app.secret, 'playback')
  const chunkSize = options.chunkSize ?? CHUNK_SIZE
  const videoTtlMs = options.videoTtlMs ?? DEFAULT_VIDEO_TTL_MS
  const infos = new ObjectInfoCache((k) => storage.head(k))
  const served = new Map<string, ServedObject>()
  const sessions = new ViewSessions(options.viewWindowMs)
  const videos = new Map<string, { video: Video | null, until: number }>()
  const fills = new Map<string, ChunkFill>()
  // With Redis, a fill is worth its copy even when L1 cannot keep it: other nodes read it from L2.
  const l2Enabled = (await cache.probe()).redis !== 'disabled'
  // Chunk buffers are recycled only when L1 says when it drops one, and without L2: a write-behind
  // to Redis may still be reading a buffer after L1 has dropped it.
  const pool = !l2Enabled && cache.onL1Remove !== undefined ? new ChunkPool(chunkSize, MAX_IDLE_CHUNKS) : undefined
  if (pool !== undefined) cache.onL1Remove!((_key, value) => pool.uncached(value))

  function rememberServed (obj: ServedObject, slot: string): ServedObject {
    if (served.size >= 50_000) served.delete(served.keys().next().value!)
    served.set(slot, obj)
    return obj
  }

  /** The ServedObject for a key and caching policy, built once from storage's head(). */
  function servedFor (objectKey: string, contentType: string, cacheControl: string): ServedObject | Promise<ServedObject> {
    const slot = cacheControl + '\0' + objectKey
    const known = served.get(slot)
    if (known !== undefined) return known
    const info = infos.get(objectKey)
    if (info instanceof Promise) return info.then((i) => rememberServed(servedObject(i, contentType, cacheControl), slot))
    return rememberServed(servedObject(info, contentType, cacheControl), slot)
  }

  function lookupVideo (id: string): Video | null | Promise<Video | null> {
    const now = Date.now()
    const memo = videos.get(id)
    if (memo !== undefined && memo.until > now) return memo.video
    return findVideo(db, id).then((video) => {
      if (videos.size >= MAX_REMEMBERED_VIDEOS) videos.delete(videos.keys().next().value!)
      videos.set(id, { video, until: Date.now() + videoTtlMs })
      return video
    })
  }

  async function viewer (request: FastifyRequest, reply: FastifyReply): Promise<Viewer | undefined> {
    if (!app.hasDecorator('authenticateOptional')) return undefined
    await app.authenticateOptional(request, reply)
    return (request as unknown as { user?: Viewer | null }).user ?? undefined
  }

  /** The video a media request names, if it may be played by this request; throws the 4xx otherwise. */
  async function access (request: FastifyRequest, reply: FastifyReply, id: string): Promise<Access> {
    if (!ID_PATTERN.test(id)) throw new NotFoundError(`No video "${id}": video ids are 20 hex characters`)
    const found = lookupVideo(id)
    const video = found instanceof Promise ? await found : found
    if (video === null) throw new NotFoundError(`No video ${id}`)
    if (video.status !== 'ready' || video.version === null) {
      const user = await viewer(request, reply)
      if (canEdit(video, user)) {
        const detail = video.status === 'processing' ? ` (${Math.round(video.progress * 100)}% done)` : video.status === 'failed' ? `: ${video.failureReason ?? 'no reason recorded'}` : ''
        throw new ConflictError(`Video ${id} is ${video.status}${detail}; it plays once it is ready`)
      }
      throw new NotFoundError(`No video ${id}`)
    }
    if (video.visibility === 'public') return { video, token: undefined, shared: true }
    const token = tokenOf(request)
    if (token !== undefined) {
      const check = verifyPlaybackToken(key, id, token)
      if (check === 'ok') return { video, token, shared: false }
      if (check === 'expired') throw new ForbiddenError(`The playback token for video ${id} has expired; get a fresh one from GET /api/videos/${id}/playback`)
      throw new ForbiddenError(`The playback token is not valid for video ${id}; get one from GET /api/videos/${id}/playback`)
    }
    // Without a token, an owner or admin may still fetch with their bearer token (tools, not players).
    const user = await viewer(request, reply)
    if (canEdit(video, user)) return { video, token: undefined, shared: false }
    throw new ForbiddenError(`Video ${id} is ${video.visibility}: play it with ?token= from GET /api/videos/${id}/playback`)
  }

  function countView (request: FastifyRequest, a: Access): void {
    if (request.method !== 'GET') return
    if (!sessions.firstSight(viewSessionKey(a.video._id, a.token, request.ip, request.headers['user-agent']))) return
    db.collection<Video>(VIDEOS).updateOne({ _id: a.video._id }, { $inc: { views: 1 } })
      .catch((err: unknown) => request.log.warn({ err, videoId: a.video._id }, 'could not count a view'))
  }

  function findRendition (video: Video, name: string): Rendition {
    const rendition = video.renditions.find((r) => r.name === name)
    if (rendition === undefined) {
      throw new NotFoundError(`Video ${video._id} has no rendition "${name}"; it has ${video.renditions.map((r) => r.name).join(', ') || 'none'}`)
    }
    return rendition
  }

  /** Answers with an object cached whole (segment, poster, or playlist as stored). */
  async function serveWhole (request: FastifyRequest, reply: FastifyReply, objectKey: string, contentType: string, cacheControl: string): Promise<void> {
    const pending = servedFor(objectKey, contentType, cacheControl)
    const obj = pending instanceof Promise ? await pending : pending
    const hit = cache.peek(objectKey)
    const body = hit ?? await cache.readThrough(objectKey, () => readWhole(storage, objectKey, obj.size))
    if (body.byteLength !== obj.size) throw new Error(`cached ${objectKey} has ${body.byteLength} bytes, storage says ${obj.size}`)
    reply.hijack()
    sendBuffer(request.raw, reply.raw, obj, body)
  }

  async function servePlaylist (request: FastifyRequest, reply: FastifyReply, a: Access, objectKey: string): Promise<void> {
    if (a.token === undefined) return await serveWhole(request, reply, objectKey, MPEGURL, a.shared ? PLAYLIST : PLAYLIST_PRIVATE)
    const info = await infos.get(objectKey)
    const stored = cache.peek(objectKey) ?? await cache.readThrough(objectKey, () => readWhole(storage, objectKey, info.size))
    const body = Buffer.from(rewritePlaylist(stored.toString("utf8"), { token: a.token }))
    // The body depends on the stored playlist and the token, so the validator does too.
    const tokenTag = createHash('sha256').update(a.token).digest('base64url').slice(0, 16)
    const etag = `"${info.etag.replace(/^W\//, '').replace(/"/g, '')}.${tokenTag}"`
    const obj = servedObject({ key: objectKey, size: body.byteLength, etag, lastModified: info.lastModified }, MPEGURL, PLAYLIST_PRIVATE)
    reply.hijack()
    sendBuffer(request.raw, reply.raw, obj, body)
  }

  /**
   * Starts filling one chunk through the cache: one origin read of exactly the chunk's bytes (or
   * the L2 copy), which readers of the chunk follow as it arrives.
   */
  function startFill (ck: string, objectKey: string, bounds: ByteRange): ChunkFill {
    const length = bounds.end - bounds.start + 1
    // The fill holds a pooled buffer until it settles; readers hold it on their own (ResponseHolds).
    const pooled = pool !== undefined && length === chunkSize ? pool.take() : undefined
    const fill = new ChunkFill(length, pooled)
    fills.set(ck, fill)
    cache.readThrough(ck, async () => await fill.read(await storage.get(objectKey, { range: bounds })))
      .then((chunk) => {
        fill.settle(chunk)
        const kept = cache.peek(ck)
        if (pooled !== undefined && kept === pooled) pool!.markCached(pooled)
        noteFillKept(kept !== undefined, chunk.byteLength)
      }, (err: Error) => fill.fail(err))
      .finally(() => {
        fills.delete(ck)
        if (pooled !== undefined) pool!.release(pooled)
      })
    return fill
  }

  /**
   * Whether chunk fills are pointless: no L2, and L1 did not keep a full-size chunk it was just
   * given (its largest entry is smaller than a chunk). Single-range misses are then piped straight
   * from storage. One miss in PASS_THROUGH_RECHECK still fills, so a spurious miss (a concurrent
   * delete) does not switch chunk caching off for good.
   */
  let fillsKept = true
  let missesSinceCheck = 0
  function noteFillKept (kept: boolean, size: number): void {
    if (size === chunkSize) fillsKept = kept || l2Enabled
  }
  function passThrough (): boolean {
    if (fillsKept) return false
    if (++missesSinceCheck < PASS_THROUGH_RECHECK) return true
    missesSinceCheck = 0
    return false
  }

  async function serveProgressive (request: FastifyRequest, reply: FastifyReply, a: Access): Promise<void> {
    const objectKey = a.video.progressiveKey
    if (objectKey === null) throw new NotFoundError(`Video ${a.video._id} has no progressive MP4; play it by HLS at /hls/${a.video._id}/master.m3u8`)
    const pending = servedFor(objectKey, CONTENT_TYPES.progressive, a.shared ? IMMUTABLE : IMMUTABLE_PRIVATE)
    const obj = pending instanceof Promise ? await pending : pending
    countView(request, a)
    // Every pooled chunk this response reads from stays out of the pool until the response is
    // closed (written out or torn down): only then can no socket write still read its bytes.
    const holds = pool === undefined ? undefined : new ResponseHolds(pool)
    if (holds !== undefined) reply.raw.once('close', () => holds.releaseAll())
    const source = (n: number): Buffer | ChunkFill => {
      const ck = chunkKey(objectKey, n)
      const hit = cache.peek(ck)
      if (hit !== undefined) {
        holds?.hold(hit)
        return hit
      }
      const fill = fills.get(ck) ?? startFill(ck, objectKey, chunkBounds(n, obj.size, chunkSize))
      holds?.hold(fill.result ?? fill.buffer)
      return fill
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
      passThrough: passThrough() ? async (range) => await storage.get(objectKey, { range }) : undefined,
      onError: (err) => request.log.warn({ err, key: objectKey }, 'progressive stream failed mid-body')
    })
  }

  /**
   * The hot path, ahead of Fastify's router: a GET or HEAD of a segment or media playlist of a
   * public, ready video whose document, object info and bytes are all in memory is answered right
   * here, with the same headers and semantics as the routes below (sendBuffer), but without a
   * request object, child logger or promise per request. Anything else (a query string, percent
   * escapes, a token, a miss of any kind, a closing server) returns false and goes to Fastify.
   */
  let accepting = true
  function answerFromMemory (req: IncomingMessage, res: ServerResponse): boolean {
    if (!accepting || (req.method !== 'GET' && req.method !== 'HEAD')) return false
    const url = req.url
    if (url === undefined || !url.startsWith('/hls/') || url.includes('?') || url.includes('%')) return false
    const parts = url.split('/')
    if (parts.length !== 5) return false
    const id = parts[2]!
    const memo = videos.get(id)
    if (memo === undefined || memo.until <= Date.now()) return false
    const video = memo.video
    if (video === null || video.status !== 'ready' || video.visibility !== 'public' || video.version === null) return false
    const rendition = video.renditions.find((r) => r.name === parts[3])
    if (rendition === undefined) return false
    const name = parts[4]!
    let objectKey: string
    let cacheControl: string
    if (name === 'index.m3u8') {
      objectKey = videoKeys.mediaPlaylist(id, video.version, rendition.name)
      cacheControl = PLAYLIST
    } else {
      const m = SEGMENT_NAME.exec(name)
      if (m === null || Number(m[1]) >= rendition.segmentCount) return false
      objectKey = videoKeys.segment(id, video.version, rendition.name, name)
      cacheControl = IMMUTABLE
    }
    const obj = served.get(cacheControl + '\0' + objectKey)
    if (obj === undefined) return false
    const body = cache.peek(objectKey)
    if (body === undefined || body.byteLength !== obj.size) return false
    sendBuffer(req, res, obj, body)
    return true
  }

  app.addHook('onReady', async function installFastPath () {
    const server = app.server
    const routing = server.listeners('request')
    // Only when Fastify's router is the one listener; otherwise leave the server as it is.
    if (routing.length !== 1) return
    const route = routing[0] as (req: IncomingMessage, res: ServerResponse) => void
    server.removeListener('request', route)
    server.on('request', function deliveryFastPath (req: IncomingMessage, res: ServerResponse) {
      if (!answerFromMemory(req, res)) route(req, res)
    })
  })
  // Fastify answers 503 while closing; hand every request back to it from then on.
  app.addHook('preClose', async () => { accepting = false })

  // CORS on error answers too, so players on other origins can read why they were refused.
  app.addHook('onSend', async (_request, reply) => {
    for (const [name, value] of CORS_HEADERS) reply.header(name, value)
  })

  const preflight = async (_request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.code(204)
      .header('access-control-allow-methods', 'GET, HEAD, OPTIONS')
      .header('access-control-allow-headers', 'Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, Authorization')
      .header('access-control-max-age', '86400')
      .send()
  }
  app.options('/stream/:id', preflight)
  app.options('/hls/*', preflight)

  const idParams = { params: z.object({ id: z.string() }) }

  app.route({
    method: ['GET', 'HEAD'],
    url: '/stream/:id',
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const { id } = request.params as { id: string }
      await serveProgressive(request, reply, await access(request, reply, id))
    }
  })

  app.get('/hls/:id/master.m3u8', async (request, reply) => {
    const { id } = request.params as { id: string }
    const a = await access(request, reply, id)
    countView(request, a)
    await servePlaylist(request, reply, a, videoKeys.master(id, a.video.version!))
  })

  app.get('/hls/:id/:rendition/index.m3u8', async (request, reply) => {
    const { id, rendition } = request.params as { id: string, rendition: string }
    const a = await access(request, reply, id)
    const r = findRendition(a.video, rendition)
    await servePlaylist(request, reply, a, videoKeys.mediaPlaylist(id, a.video.version!, r.name))
  })

  app.get('/hls/:id/:rendition/:segment', async (request, reply) => {
    const { id, rendition, segment } = request.params as { id: string, rendition: string, segment: string }
    const a = await access(request, reply, id)
    const r = findRendition(a.video, rendition)
    const m = SEGMENT_NAME.exec(segment)
    if (m === null) throw new BadRequestError(`"${segment}" is not a segment name; segments are named like segment-00000.ts`)
    const index = Number(m[1])
    if (index >= r.segmentCount) throw new NotFoundError(`Rendition ${r.name} of video ${id} has ${r.segmentCount} segments (${segmentName(0)} .. ${segmentName(r.segmentCount - 1)})`)
    const objectKey = videoKeys.segment(id, a.video.version!, r.name, segment)
    await serveWhole(request, reply, objectKey, CONTENT_TYPES.segment, a.shared ? IMMUTABLE : IMMUTABLE_PRIVATE)
  })

  const poster = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { id } = request.params as { id: string }
    const a = await access(request, reply, id)
    if (a.video.posterKey === null) throw new NotFoundError(`Video ${id} has no poster`)
    await serveWhole(request, reply, a.video.posterKey, CONTENT_TYPES.poster, a.shared ? IMMUTABLE : IMMUTABLE_PRIVATE)
  }
  app.get('/hls/:id/poster.jpg', poster)
  app.get('/poster/:id', poster)

  app.get('/api/videos/:id/playback', {
    schema: {
      tags: ['videos'],
      summary: 'A short-lived playback token and the URLs to play a video with',
      description: 'Public videos play without a token; unlisted and private ones need the token, which the URLs given here carry.',
      ...idParams,
      response: { 200: playbackSchema }
    }
  }, async (request, reply) => {
    const { id } = request.params
    if (!ID_PATTERN.test(id)) throw new NotFoundError(`No video "${id}": video ids are 20 hex characters`)
    const video = await findVideo(db, id)
    const user = await viewer(request, reply)
    if (video === null || !canView(video, user)) throw new NotFoundError(`No video ${id}`)
    if (video.status !== 'ready') {
      if (canEdit(video, user)) throw new ConflictError(`Video ${id} is ${video.status}; it plays once it is ready`)
      throw new NotFoundError(`No video ${id}`)
    }
    const { token, expiresAt } = issuePlaybackToken(key, id, config.playbackTokenTtlSeconds)
    const query = video.visibility === 'public' ? '' : `?token=${encodeURIComponent(token)}`
    reply.header('cache-control', 'private, no-store')
    return { token, expiresAt: expiresAt.toISOString(), hlsUrl: `/hls/${id}/master.m3u8${query}`, streamUrl: `/stream/${id}${query}` }
  })
}

export default fp<DeliveryOptions>(async function deliveryPlugin (app, options) {
  // Encapsulated: the hooks and routes of delivery stay in their own context.
  await app.register(delivery, options)
}, { fastify: '5.x', name: 'lectern-delivery', dependencies: ['lectern-storage', 'lectern-cache', 'lectern-db'] })
