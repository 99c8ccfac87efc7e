import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { ByteRange, ObjectStore } from '../storage/object-store.js'
import type { Rendition, Video } from '../db/documents.js'
import { SEGMENT_NAME, isLive, segmentName, videoKeys } from '../db/documents.js'
import { VIDEOS, type Viewer } from '../db/video-repository.js'
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js'
import { deriveKey } from '../secrets.js'
import { SessionStore } from '../abr/session-store.js'
import { rewritePlaylist } from './rewrite-playlist.js'
import { putVariantFirst } from './put-variant-first.js'
import { adaptivePlaylist } from './adaptive-playlist.js'
import { ObjectInfoCache } from './object-info-cache.js'
import { upcomingSegmentBits } from './upcoming-segment-bits.js'
import { CORS_HEADERS, IMMUTABLE, IMMUTABLE_PRIVATE, LIVE_PLAYLIST, LIVE_PLAYLIST_PRIVATE, PLAYLIST, PLAYLIST_PRIVATE, SESSION, servedObject, type ServedObject } from './served-object.js'
import { CHUNK_SIZE } from './chunked-body.js'
import { ChunkFill } from './chunk-fill.js'
import { ChunkPool } from './chunk-pool.js'
import { ProgressiveDelivery } from './progressive-delivery.js'
import { sendBuffer, sendBufferWith } from './send-bytes.js'
import { ViewSessions, viewSessionKey } from './view-sessions.js'
import { MediaAccess, type Access } from './media-access.js'
import { fastPathParts, fastPathUrl, installFastPath } from './fast-path.js'
import { CMCD, NOT_PLAIN } from '../request-header-flags.js'
import { SessionTracker, type SessionValue } from './session-tracker.js'
import { ladderOf, segmentSecondsOf, sessionOf } from './session-request.js'
import { registerPlaybackRoute } from './playback-route.js'
import { listenForEdgeLog } from './edge-log-listener.js'
import { deliveryCounters, type CacheOutcome, type DeliveryKind } from '../metrics/delivery-counters.js'
import { addSubtitleGroup, subtitleRenditions } from '../captions/subtitle-playlist.js'
import { readObject } from '../storage/read-object.js'
import { writeMasterPlaylist } from '../../transcoder/write-master-playlist.js'

export interface DeliveryOptions {
  /** How long a looked-up video document is reused; bounds how late a visibility change or deletion is seen. */
  videoTtlMs?: number
  /** Window in which repeated requests of one session count as one view. */
  viewWindowMs?: number
  chunkSize?: number
}

interface DeliveryContext extends DeliveryOptions {
  tracker: SessionTracker
}

const MPEGURL = 'application/vnd.apple.mpegurl'
const CONTENT_TYPES = { segment: 'video/mp2t', progressive: 'video/mp4', poster: 'image/jpeg', playlist: MPEGURL } as const
const KIND_OF: Record<string, DeliveryKind> = { 'video/mp2t': 'segment', 'image/jpeg': 'poster', [MPEGURL]: 'playlist' }
const DEFAULT_VIDEO_TTL_MS = 1000
/** Evicted chunk buffers kept for the next fills; more are left to the garbage collector. */
const MAX_IDLE_CHUNKS = 8
/**
 * CMSD-Static (CTA-5006) of media objects: object type (m manifest, av muxed audio and video, v video
 * only), streaming format HLS and, for playlists, stream type (v VOD, l live: a video published
 * while it transcodes). It describes the object, not the viewer, so it is part of each object's own
 * headers, for every answer and for shared caches alike. CMSD-Dynamic is a session's alone.
 */
const CMSD_PLAYLIST = ['cmsd-static', 'ot=m,sf=h,st=v'] as const
const CMSD_LIVE_PLAYLIST = ['cmsd-static', 'ot=m,sf=h,st=l'] as const
const CMSD_SEGMENT_AV = ['cmsd-static', 'ot=av,sf=h'] as const
const CMSD_SEGMENT_V = ['cmsd-static', 'ot=v,sf=h'] as const
/** Muxed unless the source is known to have no audio (the transcoder then encodes none). */
const segmentHeaders = (video: Video): readonly string[] => (video.source !== null && video.source.audioCodec === null ? CMSD_SEGMENT_V : CMSD_SEGMENT_AV)


/** Reads a whole object of a known size into one Buffer (one origin read, checked for length). */
async function readWhole (storage: ObjectStore, key: string, size: number): Promise<Buffer> {
  if (size === 0) return Buffer.alloc(0)
  return await new ChunkFill(size).read(await storage.get(key, { range: { start: 0, end: size - 1 } }))
}

/**
 * Delivery: progressive MP4 with byte ranges, and HLS, from storage through the two-tier cache,
 * adapted per viewing session. Every byte answer is written straight to the socket (reply.hijack)
 * with header arrays worked out once per object, so a cache hit costs a routing lookup, a map
 * lookup and one write.
 */
async function delivery (fastify: FastifyInstance, options: DeliveryContext): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { storage, cache, db, config } = app
  const key = deriveKey(app.secret, 'playback')
  const chunkSize = options.chunkSize ?? CHUNK_SIZE
  const infos = new ObjectInfoCache((k) => storage.head(k))
  const served = new Map<string, ServedObject>()
  const views = new ViewSessions(options.viewWindowMs)
  const access = new MediaAccess(db, key, options.videoTtlMs ?? DEFAULT_VIDEO_TTL_MS, async (request, reply) => {
    if (!app.hasDecorator('authenticateOptional')) return undefined
    await app.authenticateOptional(request, reply)
    return (request as unknown as { user?: Viewer | null }).user ?? undefined
  })
  const { tracker } = options
  // With Redis, a fill is worth its copy even when L1 cannot keep it: other nodes read it from L2.
  const l2Enabled = (await cache.probe()).redis !== 'disabled'
  // Chunk buffers are recycled only when L1 says when it drops one, and without L2: a write-behind
  // to Redis may still be reading a buffer after L1 has dropped it.
  const pool = !l2Enabled && cache.onL1Remove !== undefined ? new ChunkPool(chunkSize, MAX_IDLE_CHUNKS) : undefined
  if (pool !== undefined) cache.onL1Remove!((_key, value) => pool.uncached(value))
  const progressive = new ProgressiveDelivery({
    storage,
    cache,
    pool,
    chunkSize,
    l2Enabled,
    served: (objectKey, cacheControl) => servedFor(objectKey, CONTENT_TYPES.progressive, cacheControl),
    countView: (request, a) => { countView(request, a) }
  })

  function rememberServed (obj: ServedObject, slot: string): ServedObject {
    if (served.size >= 50_000) served.delete(served.keys().next().value!)
    served.set(slot, obj)
    return obj
  }

  /** The ServedObject for a key and caching policy, built once from storage's head(). */
  function servedFor (objectKey: string, contentType: string, cacheControl: string, objectHeaders?: readonly string[]): ServedObject | Promise<ServedObject> {
    const slot = cacheControl + '\0' + objectKey
    const known = served.get(slot)
    if (known !== undefined) return known
    const info = infos.get(objectKey)
    if (info instanceof Promise) return info.then((i) => rememberServed(servedObject(i, contentType, cacheControl, objectHeaders), slot))
    return rememberServed(servedObject(info, contentType, cacheControl, objectHeaders), slot)
  }

  function countView (request: FastifyRequest, a: Access): void {
    if (request.method !== 'GET') return
    if (!views.firstSight(viewSessionKey(a.video._id, a.token, request.ip, request.headers['user-agent']))) return
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

  /** Which tier answered a read (for the delivery counters): L1 unless readCached says otherwise. */
  interface Seen { outcome: CacheOutcome }

  async function readCached (objectKey: string, size: number, seen?: Seen): Promise<Buffer> {
    const hit = cache.peek(objectKey)
    if (hit !== undefined) return hit
    // A read that joins another's load in flight counts as L2 when there is one: it did not read storage itself.
    if (seen !== undefined) seen.outcome = l2Enabled ? 'l2' : 'origin'
    return await cache.readThrough(objectKey, () => {
      if (seen !== undefined) seen.outcome = 'origin'
      return readWhole(storage, objectKey, size)
    })
  }

  /** Answers with an object cached whole (segment, poster, or playlist as stored); returns the body bytes sent (a range's, for a range request). */
  async function serveWhole (request: FastifyRequest, reply: FastifyReply, objectKey: string, contentType: string, cacheControl: string, extra?: string[], objectHeaders?: readonly string[]): Promise<number> {
    const pending = servedFor(objectKey, contentType, cacheControl, objectHeaders)
    const obj = pending instanceof Promise ? await pending : pending
    const seen: Seen = { outcome: 'l1' }
    const body = await readCached(objectKey, obj.size, seen)
    if (body.byteLength !== obj.size) throw new Error(`cached ${objectKey} has ${body.byteLength} bytes, storage says ${obj.size}`)
    reply.hijack()
    const sent = sendBuffer(request.raw, reply.raw, obj, body, extra)
    deliveryCounters.add(KIND_OF[contentType] ?? 'segment', seen.outcome, sent)
    return sent
  }

  /** A playlist rewritten for one viewer (a token, a session id): its validator depends on the body. */
  async function sendRewritten (request: FastifyRequest, reply: FastifyReply, objectKey: string, body: string, cacheControl: string, extra: string[] | undefined, seen: Seen, live = false): Promise<void> {
    // A live playlist is rewritten under the same key as it grows: its head() is not kept.
    const info = live ? { lastModified: new Date() } : await infos.get(objectKey)
    const bytes = Buffer.from(body)
    const tag = createHash('sha256').update(bytes).digest('base64url').slice(0, 22)
    const obj = servedObject({ key: objectKey, size: bytes.byteLength, etag: `"${tag}"`, lastModified: info.lastModified }, MPEGURL, cacheControl, live ? CMSD_LIVE_PLAYLIST : CMSD_PLAYLIST)
    reply.hijack()
    deliveryCounters.add('playlist', seen.outcome, sendBuffer(request.raw, reply.raw, obj, bytes, extra))
  }

  async function storedText (objectKey: string, seen: Seen): Promise<string> {
    const info = await infos.get(objectKey)
    return (await readCached(objectKey, info.size, seen)).toString('utf8')
  }

  /**
   * A playlist of a video published while it transcodes: read from storage at every request,
   * never kept by either cache tier (it is rewritten under the same key until the job ends).
   */
  async function liveText (objectKey: string, seen: Seen): Promise<string> {
    seen.outcome = 'origin'
    return (await readObject(storage, objectKey)).toString('utf8')
  }

  /** A playlist of the video as it is now: live, or as stored (through the cache). */
  async function playlistText (a: Access, objectKey: string, seen: Seen): Promise<string> {
    return isLive(a.video) ? await liveText(objectKey, seen) : await storedText(objectKey, seen)
  }

  /**
   * The index of a requested segment, checked against the rendition's count. A video published
   * while it transcodes gains segments every few seconds, so a count from a remembered document
   * is checked once more against the database before a segment is called missing.
   */
  async function checkedSegment (a: Access, segment: string, count: (video: Video) => number, where: string): Promise<{ index: number, video: Video }> {
    try {
      return { index: segmentIndex(segment, count(a.video), where), video: a.video }
    } catch (err) {
      if (!isLive(a.video) || !(err instanceof NotFoundError)) throw err
      const now = await access.reread(a.video._id)
      if (now === null || now.version !== a.video.version) throw err
      return { index: segmentIndex(segment, count(now), where), video: now }
    }
  }

  /** A session's CMSD-Dynamic header (none while nothing is known of its bandwidth). */
  function cmsdDynamic (sid: string, maxSuggestedBps?: number): string[] {
    const dynamic = tracker.cmsdDynamic(sid, maxSuggestedBps)
    return dynamic === undefined ? [] : ['cmsd-dynamic', dynamic]
  }

  async function serveMediaPlaylist (request: FastifyRequest, reply: FastifyReply, a: Access, objectKey: string): Promise<void> {
    const { sid } = sessionOf(request)
    const live = isLive(a.video)
    if (a.token === undefined && sid === undefined && !live) {
      await serveWhole(request, reply, objectKey, MPEGURL, a.shared ? PLAYLIST : PLAYLIST_PRIVATE, undefined, CMSD_PLAYLIST)
      return
    }
    const params: Record<string, string> = {}
    if (a.token !== undefined) params.token = a.token
    if (sid !== undefined) params.sid = sid
    const seen: Seen = { outcome: 'l1' }
    const body = rewritePlaylist(await playlistText(a, objectKey, seen), params)
    if (sid !== undefined) tracker.answeredSmall(reply.raw, sid)
    const cacheControl = sid !== undefined ? SESSION : live ? (a.shared && a.token === undefined ? LIVE_PLAYLIST : LIVE_PLAYLIST_PRIVATE) : PLAYLIST_PRIVATE
    await sendRewritten(request, reply, objectKey, body, cacheControl, sid === undefined ? undefined : cmsdDynamic(sid), seen, live)
  }

  /**
   * What a fast-path URL path resolved to: kept while the video's document and the served object
   * are the very objects it was resolved from (a changed document or object info is a new object),
   * so a hit costs lookups by strings whose hashes are already known, not parsing and key building.
   */
  interface Resolved {
    id: string, video: Video, version: string, rendition: Rendition, objectKey: string, slot: string, obj: ServedObject, counted: { l1: number }, playlist: boolean
    /** The video's mean segment length, seconds (a session's sample needs it). */
    segmentSeconds: number
  }
  const resolved = new Map<string, Resolved>()

  function resolveFastPath (path: string): Resolved | undefined {
    const memo = resolved.get(path)
    if (memo !== undefined) {
      const video = access.current(memo.id)
      if (video === memo.video && video.status === 'ready' && video.visibility === 'public' && video.version === memo.version && served.get(memo.slot) === memo.obj) return memo
      resolved.delete(path)
    }
    const parts = fastPathParts(path)
    if (parts === undefined) return undefined
    const video = access.current(parts.id)
    if (video === undefined || video === null || video.status !== 'ready' || video.visibility !== 'public' || video.version === null) return undefined
    const rendition = video.renditions.find((r) => r.name === parts.rendition)
    if (rendition === undefined) return undefined
    let objectKey: string
    let cacheControl: string
    const playlist = parts.name === 'index.m3u8'
    if (playlist) {
      objectKey = videoKeys.mediaPlaylist(parts.id, video.version, rendition.name)
      cacheControl = PLAYLIST
    } else {
      const m = SEGMENT_NAME.exec(parts.name)
      if (m === null || Number(m[1]) >= rendition.segmentCount) return undefined
      objectKey = videoKeys.segment(parts.id, video.version, rendition.name, parts.name)
      cacheControl = IMMUTABLE
    }
    const slot = cacheControl + '\0' + objectKey
    const obj = served.get(slot)
    if (obj === undefined) return undefined
    const entry: Resolved = { id: parts.id, video, version: video.version, rendition, objectKey, slot, obj, counted: playlist ? deliveryCounters.bytes.playlist : deliveryCounters.bytes.segment, playlist, segmentSeconds: segmentSecondsOf(video) }
    if (resolved.size >= 10_000) resolved.clear()
    resolved.set(path, entry)
    return entry
  }

  /**
   * The hot path, ahead of Fastify's router: a GET or HEAD of a segment or media playlist of a
   * public, ready video whose document, object info and bytes are all in memory is answered right
   * here, with the same headers and semantics as the routes below (sendBuffer), but without a
   * request object, child logger or promise per request. A segment that names its viewing session
   * (`?sid=`) is answered here too, and becomes a throughput sample of that session. Anything else
   * (another query, percent escapes, a token, CMCD headers, a miss of any kind) returns false and
   * goes to Fastify.
   */
  function answerFromMemory (req: IncomingMessage, res: ServerResponse, headerFlags: number): boolean {
    const raw = req.url
    const url = req.method === 'GET' || req.method === 'HEAD' ? fastPathUrl(raw) : undefined
    // A player's CMCD headers (its own throughput, its buffer, its session) are read by the router.
    if (url === undefined || (headerFlags & CMCD) !== 0) {
      tracker.arrived(req)
      return false
    }
    // The URL is read: the session it names is looked up once, here, and handed on.
    const c = tracker.arrivedNamed(req, raw!, url.sidAt)
    if (c === null) return false
    const r = resolveFastPath(url.path)
    // A session's media playlist is rewritten to carry its id: the router does that.
    if (r === undefined || (r.playlist && url.sidAt >= 0)) return false
    const { obj } = r
    const body = cache.peek(r.objectKey)
    if (body === undefined || body.byteLength !== obj.size) return false
    const plain = (headerFlags & NOT_PLAIN) === 0
    if (c === undefined) {
      r.counted.l1 += sendBuffer(req, res, obj, body, undefined, plain)
      deliveryCounters.fastPathAnswers[(res.statusCode / 100) | 0]!++
      return true
    }
    const dynamic = tracker.cmsdDynamicOf(c.entry!, r.rendition.bandwidth)
    const sent = dynamic === undefined ? sendBuffer(req, res, obj, body, undefined, plain) : sendBufferWith(req, res, obj, body, 'cmsd-dynamic', dynamic, plain)
    r.counted.l1 += sent
    deliveryCounters.fastPathAnswers[(res.statusCode / 100) | 0]!++
    tracker.deliveredOn(c, res, sent, r.segmentSeconds)
    return true
  }
  installFastPath(app, answerFromMemory)


  // CORS on error answers too, so players on other origins can read why they were refused.
  app.addHook('onSend', async (_request, reply) => {
    for (const [name, value] of CORS_HEADERS) reply.header(name, value)
  })

  const preflight = async (_request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.code(204)
      .header('access-control-allow-methods', 'GET, HEAD, OPTIONS')
      .header('access-control-allow-headers', 'Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, Authorization, CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session')
      .header('access-control-max-age', '86400')
      .send()
  }
  app.options('/stream/:id', preflight)
  app.options('/hls/*', preflight)
  app.options('/adaptive_stream/*', preflight)

  app.route({
    method: ['GET', 'HEAD'],
    url: '/stream/:id',
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const { id } = request.params as { id: string }
      await progressive.serve(request, reply, await access.check(request, reply, id))
    }
  })

  app.get('/hls/:id/master.m3u8', async (request, reply) => {
    const { id } = request.params as { id: string }
    const a = await access.check(request, reply, id)
    countView(request, a)
    const { sid: given } = sessionOf(request)
    const { sid, estimateBps } = await tracker.open(given, request.ip)
    const { renditions, ladder } = ladderOf(a.video)
    const first = renditions[tracker.firstVariant(ladder, estimateBps)]!
    const objectKey = videoKeys.master(id, a.video.version!)
    const seen: Seen = { outcome: 'l1' }
    // While it transcodes, the renditions (and their provisional figures) change: from the document.
    const master = isLive(a.video) ? writeMasterPlaylist(a.video.renditions) : await storedText(objectKey, seen)
    // Caption tracks as a subtitle group: from the video document, so a caption change shows at once.
    const ordered = putVariantFirst(addSubtitleGroup(master, subtitleRenditions(a.video)), `${first.name}/index.m3u8`)
    const body = rewritePlaylist(ordered, a.token === undefined ? { sid } : { token: a.token, sid })
    tracker.answeredSmall(reply.raw, sid)
    await sendRewritten(request, reply, objectKey, body, SESSION, cmsdDynamic(sid, estimateBps === null ? undefined : first.bandwidth), seen, isLive(a.video))
  })

  app.get('/hls/:id/:rendition/index.m3u8', async (request, reply) => {
    const { id, rendition } = request.params as { id: string, rendition: string }
    const a = await access.check(request, reply, id)
    const r = findRendition(a.video, rendition)
    await serveMediaPlaylist(request, reply, a, videoKeys.mediaPlaylist(id, a.video.version!, r.name))
  })

  function segmentIndex (segment: string, count: number, where: string): number {
    const m = SEGMENT_NAME.exec(segment)
    if (m === null) throw new BadRequestError(`"${segment}" is not a segment name; segments are named like segment-00000.ts`)
    const index = Number(m[1])
    if (index >= count) throw new NotFoundError(`${where} has ${count} segments (${segmentName(0)} .. ${segmentName(count - 1)})`)
    return index
  }

  app.get('/hls/:id/:rendition/:segment', async (request, reply) => {
    const { id, rendition, segment } = request.params as { id: string, rendition: string, segment: string }
    const a = await access.check(request, reply, id)
    const r = findRendition(a.video, rendition)
    await checkedSegment(a, segment, (v) => v.renditions.find((x) => x.name === r.name)?.segmentCount ?? 0, `Rendition ${r.name} of video ${id}`)
    const objectKey = videoKeys.segment(id, a.video.version!, r.name, segment)
    const { sid, cmcd } = sessionOf(request)
    const cacheControl = a.shared ? IMMUTABLE : IMMUTABLE_PRIVATE
    if (sid === undefined) {
      await serveWhole(request, reply, objectKey, CONTENT_TYPES.segment, cacheControl, undefined, segmentHeaders(a.video))
      return
    }
    const segmentSeconds = segmentSecondsOf(a.video)
    await tracker.reported(request.raw, sid, cmcd, () => r.averageBandwidth * segmentSeconds / 8)
    const sent = await serveWhole(request, reply, objectKey, CONTENT_TYPES.segment, cacheControl, cmsdDynamic(sid, r.bandwidth), segmentHeaders(a.video))
    tracker.delivered(request.raw, reply.raw, sid, sent, segmentSeconds, cmcd)
  })

  app.get('/adaptive_stream/:id', async (request, reply) => {
    const { id } = request.params as { id: string }
    const a = await access.check(request, reply, id)
    countView(request, a)
    const { sid: given } = sessionOf(request)
    const { sid } = await tracker.open(given, request.ip)
    const { renditions, segments } = ladderOf(a.video)
    const objectKey = videoKeys.mediaPlaylist(id, a.video.version!, renditions[0]!.name)
    const seen: Seen = { outcome: 'l1' }
    const media = adaptivePlaylist(await playlistText(a, objectKey, seen), segments, (i) => `/adaptive_stream/${id}/${segmentName(i)}`)
    const body = rewritePlaylist(media, a.token === undefined ? { sid } : { token: a.token, sid })
    tracker.answeredSmall(reply.raw, sid)
    await sendRewritten(request, reply, objectKey, body, SESSION, cmsdDynamic(sid), seen, isLive(a.video))
  })

  app.get('/adaptive_stream/:id/:segment', async (request, reply) => {
    const { id, segment } = request.params as { id: string, segment: string }
    const checked = await access.check(request, reply, id)
    const { index, video } = await checkedSegment(checked, segment, (v) => ladderOf(v).segments, `The adaptive stream of video ${id}`)
    const a = { ...checked, video }
    const { renditions, ladder, segments, segmentSeconds } = ladderOf(a.video)
    const { sid, cmcd } = sessionOf(request)
    if (sid === undefined) throw new BadRequestError(`An adaptive segment needs its viewing session: fetch /adaptive_stream/${id} and follow the segment URIs it lists (they carry ?sid=)`)
    await tracker.reported(request.raw, sid, cmcd, (s) => ladder.averageBps[s.current ?? 0]! * segmentSeconds / 8)
    const remainingSeconds = (segments - index) * segmentSeconds
    const { index: rung } = await tracker.choose(request.raw, sid, ladder, segmentSeconds, remainingSeconds, cmcd,
      await upcomingSegmentBits((k) => infos.get(k), (r, s) => videoKeys.segment(id, a.video.version!, renditions[r]!.name, segmentName(s)), renditions.length, index, segments))
    const r = renditions[rung]!
    const objectKey = videoKeys.segment(id, a.video.version!, r.name, segment)
    const extra = ['lectern-rendition', r.name, ...cmsdDynamic(sid, r.bandwidth)]
    const sent = await serveWhole(request, reply, objectKey, CONTENT_TYPES.segment, SESSION, extra, segmentHeaders(a.video))
    tracker.delivered(request.raw, reply.raw, sid, sent, segmentSeconds, cmcd, true)
  })

  const poster = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { id } = request.params as { id: string }
    const a = await access.check(request, reply, id)
    if (a.video.posterKey === null) throw new NotFoundError(`Video ${id} has no poster`)
    await serveWhole(request, reply, a.video.posterKey, CONTENT_TYPES.poster, a.shared ? IMMUTABLE : IMMUTABLE_PRIVATE)
  }
  app.get('/hls/:id/poster.jpg', poster)
  app.get('/poster/:id', poster)

  registerPlaybackRoute(app, access, tracker, key)
}

export default fp<DeliveryOptions>(async function deliveryPlugin (app, options) {
  const { config } = app
  const sessions = new SessionStore<SessionValue>({
    redis: config.redisUrl === undefined ? undefined : { url: config.redisUrl, timeoutMs: config.cache.redisTimeoutMs, log: app.log.child({ component: 'abr-sessions' }) }
  })
  app.addHook('onClose', async () => {
    await tracker.close()
    await sessions.close()
  })
  const tracker = new SessionTracker(sessions, app.log, { edgeLog: config.abrEdgeLogPort > 0 })
  app.decorate('abrSessions', tracker)
  if (config.abrEdgeLogPort > 0) {
    const edge = await listenForEdgeLog(config.abrEdgeLogPort, config.host, async (line) => await tracker.edgeLine(line), app.log)
    app.addHook('onClose', async () => { await new Promise<void>((resolve) => edge.close(() => resolve())) })
  }
  // Encapsulated: the hooks and routes of delivery stay in their own context.
  await app.register(delivery, { ...options, tracker })
}, { fastify: '5.x', name: 'lectern-delivery', dependencies: ['lectern-storage', 'lectern-cache', 'lectern-db'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Viewing sessions of adaptive delivery. */
    abrSessions: SessionTracker
  }
}
