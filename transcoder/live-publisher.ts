import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Collection } from '../src/db/collection.js'
import { segmentName, videoKeys, type Rendition, type Video } from '../src/db/documents.js'
import type { ObjectStore } from '../src/storage/object-store.js'
import type { MeasuredSegment } from './measure-rendition.js'
import { parseMediaPlaylist, targetDurationOf } from './measure-rendition.js'
import type { Ladder, PlannedRung } from './plan-ladder.js'
import { provisionalRendition } from './provisional-rendition.js'
import type { TranscodeLog } from './run-process.js'
import { writeMasterPlaylist } from './write-master-playlist.js'
import { writeMediaPlaylist } from './write-media-playlist.js'

const MPEGURL = 'application/vnd.apple.mpegurl'

/** A version of the video that viewers may already be playing while its job is retried. */
export interface LiveVersion {
  version: string
  /** rung names, and how many segments every rung of it has */
  rungs: string[]
  segments: number
}

export interface LivePublisherOptions {
  storage: ObjectStore
  videos: Collection<Video>
  videoId: string
  /** this attempt's output version */
  version: string
  ladder: Ladder
  /** where ffmpeg writes rung folders (`<outputDir>/<rung>/index.m3u8` and segments) */
  outputDir: string
  segmentSeconds: number
  hasAudio: boolean
  /** The CODECS of a rung, from one of its segments. */
  codecsOf: (segmentPath: string, rung: PlannedRung) => Promise<string>
  /**
   * The version viewers play now, if an earlier attempt of this job published one. This attempt
   * replaces it only once every rung has at least as many segments, and only with the same rungs,
   * so a playlist a player already holds never points past what exists.
   */
  previous: LiveVersion | null
  /** storage key of the poster, if it is already stored */
  posterKey: string | null
  log: TranscodeLog
  signal: AbortSignal
}

/**
 * Publishes a ladder while ffmpeg is still encoding it. Each tick reads the EVENT playlist ffmpeg
 * rewrites (atomically) after every segment of every rung, stores the new segments, and, once
 * every rung has its first segment, makes the video playable: the video document lists the rungs
 * with provisional figures (renditions, segment counts) and each rung's media playlist is stored
 * as an EVENT playlist of what is stored. The order is always segments, then the document, then
 * the playlists, so no playlist lists a segment that is not stored. Ticks never overlap.
 */
export class LivePublisher {
  readonly #o: LivePublisherOptions
  /** per rung: the segments stored so far, in order */
  readonly #stored: MeasuredSegment[][]
  /** Segments each rung's stored playlist lists (a rung's playlist is stored again only when it gains some). */
  readonly #listed: number[]
  readonly #codecs: Array<string | undefined>
  /** relative paths (`720p/segment-00000.ts`) already stored */
  readonly uploaded = new Set<string>()
  #live = false
  #published = -1
  #tick: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null
  #firstPlayableAt: number | null = null

  constructor (options: LivePublisherOptions) {
    this.#o = options
    this.#stored = options.ladder.map(() => [])
    this.#listed = options.ladder.map(() => 0)
    this.#codecs = options.ladder.map(() => undefined)
  }

  /** Whether this attempt's version is the one viewers play. */
  get live (): boolean {
    return this.#live
  }

  /** performance.now() when the video first became playable through this attempt, if it did. */
  get firstPlayableAt (): number | null {
    return this.#firstPlayableAt
  }

  /** Segments stored so far, per rung. */
  storedSegments (rung: number): readonly MeasuredSegment[] {
    return this.#stored[rung]!
  }

  /** Ticks every intervalMs until stop(). A failed tick is logged; the next one tries again. */
  start (intervalMs: number): void {
    this.#timer = setInterval(() => {
      if (this.#tick !== null) return
      this.tick().catch((err: unknown) => {
        if (!this.#o.signal.aborted) this.#o.log.warn({ videoId: this.#o.videoId, err: (err as Error).message }, 'publishing segments while transcoding failed; retrying')
      })
    }, intervalMs)
    this.#timer.unref()
  }

  /** Stops ticking and waits for a tick in progress. */
  async stop (): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.#tick?.catch(() => {})
  }

  /** One pass: store new segments, then go live or extend what is live. */
  async tick (): Promise<void> {
    if (this.#tick !== null) return await this.#tick
    this.#tick = this.#run().finally(() => { this.#tick = null })
    return await this.#tick
  }

  async #run (): Promise<void> {
    const { ladder, signal } = this.#o
    await Promise.all(ladder.map(async (rung, i) => { await this.#storeNew(rung, i) }))
    if (signal.aborted) return
    const counts = this.#stored.map((s) => s.length)
    const common = Math.min(...counts)
    if (!this.#live) {
      if (common === 0 || !this.#mayReplace(common)) return
      if (!await this.#goLive()) return
    }
    const total = counts.reduce((a, b) => a + b, 0)
    if (total === this.#published) return
    await this.#o.videos.updateOne({ _id: this.#o.videoId, version: this.#o.version, status: { $ne: 'ready' } }, {
      $set: { renditions: this.#renditions(), publishedSeconds: this.#publishedSeconds() }
    })
    await this.#putPlaylists()
    this.#published = total
  }

  #mayReplace (common: number): boolean {
    const previous = this.#o.previous
    if (previous === null) return true
    const same = previous.rungs.length === this.#o.ladder.length && this.#o.ladder.every((r) => previous.rungs.includes(r.name))
    return same && common >= previous.segments
  }

  /** Stores the segments ffmpeg has finished for one rung since the last tick, in order. */
  async #storeNew (rung: PlannedRung, i: number): Promise<void> {
    const dir = join(this.#o.outputDir, rung.name)
    let text: string
    try {
      text = await readFile(join(dir, 'index.m3u8'), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    const listed = parseMediaPlaylist(text)
    const stored = this.#stored[i]!
    for (let n = stored.length; n < listed.length; n++) {
      const s = listed[n]!
      // Every key is derived from the index, never from what ffmpeg wrote.
      if (s.uri !== segmentName(n)) throw new Error(`rung ${rung.name}: unexpected segment name ${s.uri}`)
      const path = join(dir, s.uri)
      const { size } = await stat(path)
      const relative = `${rung.name}/${s.uri}`
      await this.#o.storage.put(videoKeys.segment(this.#o.videoId, this.#o.version, rung.name, s.uri), createReadStream(path), { contentType: 'video/mp2t', signal: this.#o.signal })
      this.uploaded.add(relative)
      if (n === 0) this.#codecs[i] = await this.#o.codecsOf(path, rung)
      stored.push({ uri: s.uri, duration: s.duration, size })
    }
  }

  #renditions (): Rendition[] {
    const { ladder, segmentSeconds, hasAudio } = this.#o
    return ladder.map((rung, i) => provisionalRendition(rung, this.#stored[i]!, this.#codecs[i]!, segmentSeconds, hasAudio))
  }

  /** Seconds that every rung has published (they share segment boundaries). */
  #publishedSeconds (): number {
    const common = Math.min(...this.#stored.map((s) => s.length))
    const first = this.#stored[0]!.slice(0, common)
    return Math.round(first.reduce((sum, s) => sum + s.duration, 0) * 1000) / 1000
  }

  /**
   * Makes this attempt's version the one viewers play: its master and first playlists are stored,
   * then the video document points at it. Conditional on the version it replaces, so of two
   * attempts racing (a lease lost) only one wins; false if this one did not.
   */
  async #goLive (): Promise<boolean> {
    const { videoId, version, previous } = this.#o
    const renditions = this.#renditions()
    await this.#putPlaylists()
    await this.#o.storage.put(videoKeys.master(videoId, version), Buffer.from(writeMasterPlaylist(renditions)), { contentType: MPEGURL, signal: this.#o.signal })
    const result = await this.#o.videos.updateOne(
      { _id: videoId, status: { $nin: ['ready', 'failed'] }, version: previous?.version ?? null },
      {
        $set: {
          playable: true,
          version,
          renditions,
          publishedSeconds: this.#publishedSeconds(),
          ...(this.#o.posterKey !== null ? { posterKey: this.#o.posterKey } : {}),
          updatedAt: new Date()
        }
      }
    )
    if (result.matchedCount !== 1) {
      this.#o.log.info({ videoId, version }, 'not published while transcoding: the video changed meanwhile')
      return false
    }
    this.#live = true
    this.#firstPlayableAt = performance.now()
    this.#o.log.info({ videoId, version, replaces: previous?.version ?? null, segments: this.#stored.map((s) => s.length) }, 'playable while transcoding')
    return true
  }

  /** Stores the EVENT playlist of each rung that has segments it does not list yet. */
  async #putPlaylists (): Promise<void> {
    const { videoId, version, ladder, signal } = this.#o
    await Promise.all(ladder.map(async (rung, i) => {
      const segments = this.#stored[i]!
      const count = segments.length
      if (count === 0 || this.#listed[i] === count) return
      const body = writeMediaPlaylist(segments.map((s) => s.duration), Math.max(targetDurationOf(segments), Math.ceil(this.#o.segmentSeconds)), 'EVENT')
      await this.#o.storage.put(videoKeys.mediaPlaylist(videoId, version, rung.name), Buffer.from(body), { contentType: MPEGURL, signal })
      this.#listed[i] = count
    }))
  }
}
