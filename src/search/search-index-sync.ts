import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '../db/collection.js'
import type { Video } from '../db/documents.js'
import { VIDEOS, findVideo, pruneVideoTombstones, videosChangedSince, videosDeletedSince } from '../db/video-repository.js'
import { isSearchable, type IndexedCue, type VideoSearchIndex } from './video-search-index.js'

export interface SearchIndexSyncOptions {
  /** How often changes are polled (default 2 s): the bound on how stale another node's index is. */
  pollMs?: number
  /**
   * How far back each poll looks beyond the previous one (default 10 s). Writers stamp updatedAt
   * with their own clocks and a write can commit after a poll passed its time; re-reading a
   * window is cheap and applying a video twice is harmless.
   */
  overlapMs?: number
  /** How often the index is compared with the full set of searchable ids (default 60 s). */
  reconcileMs?: number
  /** Tombstones older than this are pruned (default 1 day). */
  tombstoneTtlMs?: number
  /** Reads the caption cues of a searchable video that has captions (without it, captions are not searched). */
  loadCues?: (video: Video) => Promise<IndexedCue[]>
}

/**
 * Keeps a VideoSearchIndex in step with the database, on each API node: a full load at start,
 * then a poll every couple of seconds for videos whose updatedAt moved and for deletion
 * tombstones, and now and then a reconciliation of the whole id set, which also repairs what a
 * writer that forgot to bump updatedAt would otherwise leave stale. Changes made on this node are
 * applied at once through refresh()/remove().
 */
export class SearchIndexSync {
  readonly #db: Database
  readonly #index: VideoSearchIndex
  readonly #log: FastifyBaseLogger
  readonly #pollMs: number
  readonly #overlapMs: number
  readonly #reconcileMs: number
  readonly #tombstoneTtlMs: number
  readonly #loadCues: ((video: Video) => Promise<IndexedCue[]>) | undefined
  #since = new Date(0)
  #lastReconcile = 0
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = false

  constructor (db: Database, index: VideoSearchIndex, log: FastifyBaseLogger, options: SearchIndexSyncOptions = {}) {
    this.#db = db
    this.#index = index
    this.#log = log
    this.#pollMs = options.pollMs ?? 2000
    this.#overlapMs = options.overlapMs ?? 10_000
    this.#reconcileMs = options.reconcileMs ?? 60_000
    this.#tombstoneTtlMs = options.tombstoneTtlMs ?? 24 * 3600_000
    this.#loadCues = options.loadCues
  }

  /** Indexes one video, with its caption cues read when they changed; a caption that cannot be read leaves the video searchable without it. */
  async #apply (video: Video): Promise<void> {
    let cues: IndexedCue[] = []
    if (this.#loadCues !== undefined && isSearchable(video) && (video.captions ?? []).length > 0) {
      try {
        cues = await this.#loadCues(video)
      } catch (err) {
        this.#log.warn({ err, videoId: video._id }, 'could not read captions for search')
      }
    }
    this.#index.apply(video, cues)
  }

  /** Loads the index, then keeps polling until stop(). */
  async start (): Promise<void> {
    const started = Date.now()
    await this.reconcile()
    this.#log.info({ videos: this.#index.size, ms: Date.now() - started }, 'search index loaded')
    this.#schedule()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#running
  }

  #schedule (): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => {
        this.#running = undefined
        this.#schedule()
      })
    }, this.#pollMs)
    this.#timer.unref()
  }

  async #tick (): Promise<void> {
    try {
      if (Date.now() - this.#lastReconcile >= this.#reconcileMs) await this.reconcile()
      else await this.poll()
    } catch (err) {
      // The database may be briefly away; the index keeps serving what it has and catches up later.
      this.#log.warn({ err }, 'search index sync failed; retrying')
    }
  }

  /** Applies every change since the previous poll (with the overlap window). */
  async poll (): Promise<void> {
    const now = Date.now()
    const since = new Date(this.#since.getTime() - this.#overlapMs)
    const [changed, deleted] = await Promise.all([
      videosChangedSince(this.#db, since),
      videosDeletedSince(this.#db, since)
    ])
    for (const video of changed) await this.#apply(video)
    for (const tombstone of deleted) this.#index.remove(tombstone._id)
    this.#since = new Date(now)
  }

  /** Compares the index with the database's set of searchable videos and repairs any difference. */
  async reconcile (): Promise<void> {
    const now = Date.now()
    const videos = this.#db.collection<Video>(VIDEOS)
    const live = await videos.find({ visibility: 'public', status: 'ready' }, { projection: { _id: 1, updatedAt: 1 } })
    const wanted = new Map(live.map((v) => [v._id, new Date(v.updatedAt).getTime()]))
    for (const id of [...this.#index.ids()]) {
      if (!wanted.has(id)) this.#index.remove(id)
    }
    const stale = [...wanted].filter(([id, updatedAt]) => this.#index.get(id)?.updatedAt !== updatedAt).map(([id]) => id)
    for (let i = 0; i < stale.length; i += 500) {
      const batch = await videos.find({ _id: { $in: stale.slice(i, i + 500) } })
      for (const video of batch) await this.#apply(video)
    }
    this.#since = new Date(now)
    this.#lastReconcile = now
    await pruneVideoTombstones(this.#db, new Date(now - this.#tombstoneTtlMs))
  }

  /** Re-reads one video now (after a change on this node). */
  async refresh (id: string): Promise<void> {
    const video = await findVideo(this.#db, id)
    if (video === null) this.#index.remove(id)
    else await this.#apply(video)
  }

  /** Drops one video now (after a deletion on this node). */
  remove (id: string): void {
    this.#index.remove(id)
  }
}
