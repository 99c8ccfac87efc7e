import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Database } from '../db/collection.js'
import { accessEpochOf, isPlayable, type Video } from '../db/documents.js'
import { ID_PATTERN } from '../db/new-id.js'
import { canEdit, findVideo, type Viewer } from '../db/video-repository.js'
import { ConflictError, ForbiddenError, NotFoundError, isDependencyUnavailable } from '../errors.js'
import { verifyPlaybackToken } from './playback-token.js'

/**
 * Access granted to one request: the playback token that opened it, if any, and whether the
 * answer may be kept by shared caches (only for public videos: an owner's bearer fetch of a
 * private video, like a token holder's, is private to that viewer).
 */
export interface Access {
  video: Video
  token: string | undefined
  shared: boolean
}

export type ViewerOf = (request: FastifyRequest, reply: FastifyReply) => Promise<Viewer | undefined>

const MAX_REMEMBERED_VIDEOS = 10_000

export function tokenOf (request: FastifyRequest): string | undefined {
  const t = (request.query as Record<string, unknown> | undefined)?.token
  return typeof t === 'string' ? t : undefined
}

/**
 * Who may play what. Video documents are reused for `ttlMs` (which bounds how late a visibility
 * change or deletion is seen); `fresh()` gives the fast path the reused document without waiting.
 */
export class MediaAccess {
  readonly #db: Database
  readonly #key: Buffer
  readonly #ttlMs: number
  readonly #viewer: ViewerOf
  readonly #videos = new Map<string, { video: Video | null, until: number }>()
  /** Reads of a document under way, by id: lookups that find none fresh share the one running. */
  readonly #reading = new Map<string, Promise<Video | null>>()

  constructor (db: Database, playbackKey: Buffer, ttlMs: number, viewer: ViewerOf) {
    this.#db = db
    this.#key = playbackKey
    this.#ttlMs = ttlMs
    this.#viewer = viewer
  }

  /** The remembered document while it is fresh; undefined when it must be looked up. */
  fresh (id: string, now = Date.now()): Video | null | undefined {
    const memo = this.#videos.get(id)
    return memo !== undefined && memo.until > now ? memo.video : undefined
  }

  /**
   * fresh() for the fast path, which cannot wait: in the last quarter of a document's reuse time
   * it starts a re-read (one at a time), so that a video played without pause has its document
   * renewed before it runs out, rather than every request answered by the router, each with a read
   * of its own, while the read is under way. What it returns is never older than the reuse time.
   */
  current (id: string, now = Date.now()): Video | null | undefined {
    const memo = this.#videos.get(id)
    if (memo === undefined || memo.until <= now) return undefined
    if (memo.until - now < this.#ttlMs / 4 && !this.#reading.has(id)) this.#read(id, false).catch(() => {})
    return memo.video
  }

  lookup (id: string): Video | null | Promise<Video | null> {
    const known = this.fresh(id)
    if (known !== undefined) return known
    return this.#read(id, false)
  }

  /** Reads the document and remembers it. `fresh`: a read of its own, begun now; else the read under way, if any. */
  #read (id: string, fresh: boolean): Promise<Video | null> {
    const running = fresh ? undefined : this.#reading.get(id)
    if (running !== undefined) return running
    const read = findVideo(this.#db, id).then((video) => {
      this.#videos.delete(id)
      if (this.#videos.size >= MAX_REMEMBERED_VIDEOS) this.#videos.delete(this.#videos.keys().next().value!)
      this.#videos.set(id, { video, until: Date.now() + this.#ttlMs })
      return video
    }, (err: unknown) => {
      // The metadata store is away: a public video that was playable when last read plays on (its
      // bytes are cached or in storage); anything whose access needs checking waits for the store.
      const last = this.#videos.get(id)?.video
      if (isDependencyUnavailable(err) && last != null && last.visibility === 'public' && isPlayable(last)) return last
      throw err
    }).finally(() => {
      if (this.#reading.get(id) === read) this.#reading.delete(id)
    })
    this.#reading.set(id, read)
    return read
  }

  /** The video as the database has it now (a playlist may already list what a remembered copy does not): a read begun after this call. */
  async reread (id: string): Promise<Video | null> {
    this.#videos.delete(id)
    return await this.#read(id, true)
  }

  async viewer (request: FastifyRequest, reply: FastifyReply): Promise<Viewer | undefined> {
    return await this.#viewer(request, reply)
  }

  /** A refused bearer token counts as none here: a 401 for a private video would tell that it exists. */
  async #viewerOrNone (request: FastifyRequest, reply: FastifyReply): Promise<Viewer | undefined> {
    try {
      return await this.#viewer(request, reply)
    } catch {
      return undefined
    }
  }

  /**
   * The video a media request names, if it may be played by this request; throws the 4xx otherwise.
   * Whoever may not see a video gets exactly the answer of a missing one (same status, same body but
   * for the id): a private or unlisted video, a token for another video or from before a visibility
   * change, a forged token. Only a token that this server signed for this video as it still is, but
   * that has run out, is told so: its holder already knows the video.
   */
  async check (request: FastifyRequest, reply: FastifyReply, id: string, reread = false): Promise<Access> {
    if (!ID_PATTERN.test(id)) throw new NotFoundError(`No video "${id}": video ids are 20 hex characters`)
    const found = reread ? this.reread(id) : this.lookup(id)
    const video = found instanceof Promise ? await found : found
    if (video === null) throw missing(id)
    if (!isPlayable(video)) {
      const user = await this.#viewerOrNone(request, reply)
      if (canEdit(video, user)) {
        const detail = video.status === 'processing' ? ` (${Math.round(video.progress * 100)}% done)` : video.status === 'failed' ? `: ${video.failureReason ?? 'no reason recorded'}` : ''
        throw new ConflictError(`Video ${id} is ${video.status}${detail}; it plays once it is ready`)
      }
      throw missing(id)
    }
    if (video.visibility === 'public') return { video, token: undefined, shared: true }
    const token = tokenOf(request)
    if (token !== undefined) {
      const check = verifyPlaybackToken(this.#key, id, accessEpochOf(video), token)
      if (check === 'ok') return { video, token, shared: false }
      // Issued after a change this node has not seen yet (its copy is up to ttlMs old): read the
      // video again rather than refuse a token that was just handed out. Only a genuine token gets here.
      if (check === 'ahead' && !reread) return await this.check(request, reply, id, true)
      if (check === 'expired') throw new ForbiddenError(`The playback token for video ${id} has expired; get a fresh one from GET /api/videos/${id}/playback`)
    }
    // Without a (valid) token, an owner or admin may still fetch with their bearer token (tools, not players).
    const user = await this.#viewerOrNone(request, reply)
    if (canEdit(video, user)) return { video, token: undefined, shared: false }
    throw missing(id)
  }
}

/** The one answer for a video that does not exist or that this request may not see. */
function missing (id: string): Error {
  return new NotFoundError(`No video ${id}`)
}
