import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Config } from '../src/config.js'
import type { Database } from '../src/db/collection.js'
import { segmentName, videoKeys, type Rendition, type SourceInfo, type Video } from '../src/db/documents.js'
import { newId } from '../src/db/new-id.js'
import { VIDEOS } from '../src/db/video-repository.js'
import { isObjectNotFound } from '../src/errors.js'
import type { ObjectStore } from '../src/storage/object-store.js'
import { buildFfmpegArgs, rungPaths, type EncodeOptions } from './build-ffmpeg-args.js'
import { codecsOfSegment, measureRendition, type MeasuredRendition } from './measure-rendition.js'
import { LivePublisher, type LiveVersion } from './live-publisher.js'
import { removeStaleVersions } from './remove-stale-versions.js'
import { planEncode } from './plan-encode.js'
import { checkSourceLimits } from './source-limits.js'
import { importSourceCaptions } from './source-captions.js'
import { expectedTranscodeSeconds } from './transcode-estimate.js'
import { progressiveRung, type Ladder } from './plan-ladder.js'
import { probe, safeInputArgs, fileUrl } from './probe.js'
import { FfmpegProgress } from './ffmpeg-progress.js'
import { runProcess, ProcessError, type TranscodeLog } from './run-process.js'
import { TranscodeAbortedError, TranscodeError } from './transcode-error.js'
import { writeMasterPlaylist } from './write-master-playlist.js'
import { writeMediaPlaylist } from './write-media-playlist.js'

export interface TranscodeContext {
  db: Database
  storage: ObjectStore
  config: Pick<Config, 'ffmpegPath' | 'ffprobePath' | 'hlsSegmentSeconds' | 'sourceLimits'>
  /** Recent jobs' speed (see transcode-estimate.ts), for the first estimate of the time left. */
  throughput?: number | null
  log: TranscodeLog
  /** Aborted on cancel, lost lease or shutdown; its reason is a TranscodeAbortedError. */
  signal: AbortSignal
  /**
   * Called once every output is stored, right before the video is flipped to ready: throws if
   * the job is no longer this worker's (cancelled, or taken over after a lost lease).
   */
  beforePublish?: () => Promise<void>
  /** Where temp dirs go (default: the OS temp dir). */
  tmpRoot?: string
  /** Encoder overrides (tests, benchmarks). */
  encode?: Pick<EncodeOptions, 'preset' | 'crf' | 'encoderThreads' | 'filterThreads'>
  /** Minimum time between progress writes. */
  progressIntervalMs?: number
  /** How often finished segments are looked for and published while ffmpeg runs. */
  publishIntervalMs?: number
}

export interface TranscodeResult {
  version: string
  source: SourceInfo
  ladder: Ladder
  renditions: Rendition[]
  /** storage keys written, in upload order */
  keys: string[]
  /** ms from the start of the job until viewers could play it (every rung's first segment stored); null if it was not published before the end */
  firstPlayableMs: number | null
}

/** Share of the progress bar that the encode takes; measuring and uploading take the rest. */
const ENCODE_SHARE = 0.9
const UPLOAD_CONCURRENCY = 4
const ENCODE_NICENESS = 10

const CONTENT_TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
  mp4: 'video/mp4',
  jpg: 'image/jpeg'
}

function throwIfAborted (signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new TranscodeAbortedError('shutdown')
}

/** Translates a child-process failure into what the job should do about it. */
function asTranscodeFailure (err: unknown, signal: AbortSignal, what: string): Error {
  if (signal.aborted) return signal.reason instanceof Error ? signal.reason : new TranscodeAbortedError('shutdown')
  if (err instanceof TranscodeError || err instanceof TranscodeAbortedError) return err
  if (err instanceof ProcessError) {
    if (err.reason === 'exit' && /not on whitelist/i.test(err.result?.stderrTail ?? '')) {
      return new TranscodeError('unsupported input: the file refers to other files or is not a media container Lectern accepts', true, { cause: err })
    }
    return new TranscodeError(`${what}: ${err.message}`, false, { cause: err })
  }
  return new TranscodeError(`${what}: ${(err as Error).message}`, false, { cause: err })
}

/**
 * The whole transcode of one video: download the original, probe, plan, encode every rung in
 * one ffmpeg process (with progress on the video), measure, write playlists and a poster, upload
 * everything under a fresh version prefix, and only then flip the video to ready. On any failure
 * or abort, what was uploaded is removed; the temp dir is removed in every outcome.
 */
export async function transcodeVideo (ctx: TranscodeContext, videoId: string): Promise<TranscodeResult> {
  const { db, storage, config, log, signal } = ctx
  const startedAt = performance.now()
  const videos = db.collection<Video>(VIDEOS)
  const video = await videos.findOneAndUpdate(
    { _id: videoId },
    { $set: { status: 'processing', progress: 0, etaSeconds: null, failureReason: null, updatedAt: new Date() } }
  )
  if (video === null) throw new TranscodeAbortedError('deleted')

  const workDir = await mkdtemp(join(ctx.tmpRoot ?? tmpdir(), 'lectern-transcode-'))
  const version = newId()
  const prefix = videoKeys.versionPrefix(videoId, version)
  let uploadStarted = false
  let publisher: LivePublisher | undefined
  try {
    // 1. The original, streamed to a local file: ffmpeg needs to seek (an MP4's index may be at its end).
    const original = join(workDir, 'original')
    try {
      await pipeline(await storage.get(video.originalKey, { signal }), createWriteStream(original), { signal })
    } catch (err) {
      throwIfAborted(signal)
      // A missing original will not appear by retrying; a storage hiccup may pass.
      throw new TranscodeError(`could not read the original ${video.originalKey}: ${(err as Error).message}`, isObjectNotFound(err), { cause: err })
    }

    // 2. What it is, and the ladder for it.
    const source = await probe(config.ffprobePath, original, { log, signal, timeoutMs: 120_000 })
      .catch((err: unknown) => { throw asTranscodeFailure(err, signal, 'probe') })
    // What a job may cost is decided before it costs anything.
    checkSourceLimits(source, config.sourceLimits)
    const plan = await planEncode({ ffmpegPath: config.ffmpegPath, original, source, log, signal, segmentSeconds: config.hlsSegmentSeconds, tmpRoot: workDir })
      .catch((err: unknown) => { throw asTranscodeFailure(err, signal, 'plan') })
    const ladder = plan.ladder
    const progressive = progressiveRung(ladder)
    const outputDir = join(workDir, 'out')
    for (const rung of ladder) await mkdir(rungPaths(outputDir, rung).dir, { recursive: true })
    log.info({ videoId, source, ladder: ladder.map((r) => `${r.name} ${r.width}x${r.height}@${r.frameRate} ${r.videoBitrate}`) }, 'transcode planned')

    // 3. The poster, from about 10% in, at the progressive rung's size: first, so that a video
    // published while it transcodes has its poster from the start.
    const poster = join(outputDir, 'poster.jpg')
    await runProcess(config.ffmpegPath, [
      '-hide_banner', '-nostdin', '-y', '-v', 'error',
      '-ss', (source.duration * 0.1).toFixed(3),
      ...safeInputArgs(), '-i', fileUrl(original),
      '-map', '0:v:0', '-frames:v', '1',
      '-vf', `scale=${progressive.width}:${progressive.height}:flags=bicubic,setsar=1`,
      '-q:v', '3', fileUrl(poster)
    ], { timeoutMs: 120_000, signal, log }).catch((err: unknown) => { throw asTranscodeFailure(err, signal, 'poster') })
    uploadStarted = true
    await storage.put(videoKeys.poster(videoId, version), createReadStream(poster), { contentType: CONTENT_TYPES.jpg, signal })
      .catch((err: unknown) => { throwIfAborted(signal); throw new TranscodeError(`upload to storage failed: ${(err as Error).message}`, false, { cause: err }) })

    // 4. Segments are published as ffmpeg finishes them: the video plays while it transcodes.
    publisher = new LivePublisher({
      storage,
      videos,
      videoId,
      version,
      ladder,
      outputDir,
      segmentSeconds: config.hlsSegmentSeconds,
      hasAudio: source.audioCodec !== null,
      codecsOf: async (path, rung) => await codecsOfSegment(config.ffmpegPath, config.ffprobePath, path, rung, { log, signal }),
      previous: liveVersionOf(video),
      posterKey: videoKeys.poster(videoId, version),
      log,
      signal
    })
    publisher.uploaded.add('poster.jpg')

    // 5. One ffmpeg for the whole ladder, progress onto the video at most about once a second.
    const progress = new FfmpegProgress(source.duration, { expectedSeconds: expectedTranscodeSeconds(source, ctx.throughput) })
    const interval = ctx.progressIntervalMs ?? 1000
    let lastWrite = 0
    let writing = false
    const args = buildFfmpegArgs({
      input: original,
      outputDir,
      ladder,
      progressiveIndex: ladder.indexOf(progressive),
      hasAudio: source.audioCodec !== null,
      segmentSeconds: config.hlsSegmentSeconds,
      ...plan.encode,
      ...ctx.encode
    })
    // Text subtitles of the source become caption tracks, beside the encode (a demux, no decode).
    const captions = importSourceCaptions({ ffmpegPath: config.ffmpegPath, db, storage, videoId, original, source, log, signal })
      .catch((err: unknown) => { if (!signal.aborted) log.warn({ videoId, err: (err as Error).message }, 'source subtitles not imported') })
    let encoded
    publisher.start(ctx.publishIntervalMs ?? 1000)
    try {
      encoded = await runProcess(config.ffmpegPath, args, {
        // Generous: a slow machine encodes a 1080p ladder at a fraction of real time.
        timeoutMs: 300_000 + source.duration * 30_000,
        // In the API process (WORKER=inline) requests must stay quick while a ladder encodes.
        niceness: ENCODE_NICENESS,
        signal,
        log,
        onStdout: (chunk) => {
          const fraction = progress.push(chunk)
          if (fraction === null || writing || Date.now() - lastWrite < interval) return
          lastWrite = Date.now()
          writing = true
          const eta = progress.etaSeconds()
          log.debug({ videoId, progress: round3(fraction), etaSeconds: eta }, 'transcode progress')
          videos.updateOne({ _id: videoId, status: 'processing' }, { $set: { progress: round3(fraction * ENCODE_SHARE), etaSeconds: eta } })
            .catch((err: unknown) => { log.warn({ videoId, err: (err as Error).message }, 'progress update failed') })
            .finally(() => { writing = false })
        }
      })
    } catch (err) {
      throw asTranscodeFailure(err, signal, 'encode')
    } finally {
      await publisher.stop()
      await captions
    }
    throwIfAborted(signal)
    // ffmpeg encodes what there is of a file cut short and exits 0; publishing half a lecture
    // as if it were whole would be worse than saying so.
    if (/partial file/.test(encoded.stderrTail)) {
      throw new TranscodeError('unsupported input: the file is truncated (it ends before the media its header describes); upload it again', true)
    }
    // Everything ffmpeg wrote is published before the slower steps below.
    await publisher.tick().catch((err: unknown) => {
      throwIfAborted(signal)
      log.warn({ videoId, err: (err as Error).message }, 'publishing the last segments early failed; they are stored with the rest')
    })

    // 6. Measure every rung from its files; rewrite media playlists; write the master.
    const measured: MeasuredRendition[] = []
    for (const rung of ladder) {
      const dir = rungPaths(outputDir, rung).dir
      const m = await measureRendition(config.ffmpegPath, config.ffprobePath, dir, rung, { log, signal })
        .catch((err: unknown) => { throw asTranscodeFailure(err, signal, `measure ${rung.name}`) })
      m.segments.forEach((s, i) => {
        if (s.uri !== segmentName(i)) throw new TranscodeError(`rung ${rung.name}: unexpected segment name ${s.uri}`, false)
      })
      await writeFile(join(dir, 'index.m3u8'), writeMediaPlaylist(m.segments.map((s) => s.duration), m.targetDuration))
      measured.push(m)
    }
    const renditions = measured.map((m) => m.rendition)
    await writeFile(join(outputDir, 'master.m3u8'), writeMasterPlaylist(renditions))

    await setProgress(videos, videoId, ENCODE_SHARE + 0.02, log)

    await setProgress(videos, videoId, ENCODE_SHARE + 0.02, log)

    // 7. Upload what is not stored yet: media first, the master last, so nothing refers to an
    // object not yet stored. The VOD playlists replace the EVENT ones a live video had.
    const all = (await listFiles(outputDir)).sort((a, b) => uploadRank(a) - uploadRank(b) || a.localeCompare(b))
    const keys = all.map((f) => prefix + f)
    const files = all.filter((f) => !publisher!.uploaded.has(f))
    await forEachLimit(files, UPLOAD_CONCURRENCY, async (file) => {
      throwIfAborted(signal)
      const ext = file.slice(file.lastIndexOf('.') + 1)
      await storage.put(prefix + file, createReadStream(join(outputDir, ...file.split('/'))), { contentType: CONTENT_TYPES[ext], signal })
    }).catch((err: unknown) => {
      throwIfAborted(signal)
      throw err instanceof TranscodeError ? err : new TranscodeError(`upload to storage failed: ${(err as Error).message}`, false, { cause: err })
    })
    throwIfAborted(signal)

    // 8. Publish: only if the job is still ours and the video still exists.
    await ctx.beforePublish?.()
    throwIfAborted(signal)
    const duration = measured[0]!.duration
    const before = await videos.findOneAndUpdate({ _id: videoId }, {
      $set: {
        status: 'ready',
        playable: true,
        progress: 1,
        etaSeconds: 0,
        failureReason: null,
        duration: round3(duration),
        publishedSeconds: round3(duration),
        source,
        renditions,
        version,
        posterKey: videoKeys.poster(videoId, version),
        progressiveKey: videoKeys.progressive(videoId, version),
        updatedAt: new Date()
      }
    }, { returnDocument: 'before' })
    if (before === null) throw new TranscodeAbortedError('deleted')
    // A new ladder for a video that was ready revokes the playback tokens of the old one. Going
    // from playable-while-transcoding to ready is the same ladder: its viewers keep playing.
    if (before.status === 'ready' && before.version !== null && before.version !== version) {
      await videos.updateOne({ _id: videoId, version }, { $inc: { accessEpoch: 1 } })
    }
    // Earlier attempts' outputs (a retried or crashed job, a replaced ladder) are no longer played.
    await removeStaleVersions(storage, videoId, version).catch((err: unknown) => {
      log.warn({ videoId, version, err: (err as Error).message }, 'could not remove earlier outputs')
    })
    log.info({ videoId, version, renditions: renditions.map((r) => `${r.name} peak ${r.bandwidth} avg ${r.averageBandwidth} ${r.codecs}`) }, 'transcode published')
    const playableAt = publisher.firstPlayableAt
    return { version, source, ladder, renditions, keys, firstPlayableMs: playableAt === null ? null : playableAt - startedAt }
  } catch (err) {
    // A version viewers already play stays while the job may be retried: the next attempt takes
    // over from it (see LivePublisher). A source that can never make a ladder leaves nothing.
    // Cancelled (the video deleted) is the end of it too.
    const final = (err instanceof TranscodeError && err.permanent) ||
      (err instanceof TranscodeAbortedError && (err.why === 'cancelled' || err.why === 'deleted'))
    const keep = publisher?.live === true && !final
    if (publisher?.live === true && final) {
      await videos.updateOne({ _id: videoId, version }, { $set: { playable: false, updatedAt: new Date() } })
        .catch((e: unknown) => { log.warn({ videoId, err: (e as Error).message }, 'could not withdraw a video published while transcoding') })
    }
    if (uploadStarted && !keep) {
      const removed = await storage.deletePrefix(prefix).catch((e: unknown) => {
        log.error({ videoId, prefix, err: (e as Error).message }, 'could not remove a partial ladder')
        return -1
      })
      log.info({ videoId, prefix, removed }, 'removed outputs of an unfinished transcode')
    }
    throw err
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch((err: unknown) => {
      log.warn({ workDir, err: (err as Error).message }, 'could not remove a transcode temp dir')
    })
  }
}

async function setProgress (videos: ReturnType<Database['collection']>, videoId: string, progress: number, log: TranscodeLog): Promise<void> {
  await videos.updateOne({ _id: videoId, status: 'processing' }, { $set: { progress: round3(progress), etaSeconds: null } })
    .catch((err: unknown) => { log.warn({ videoId, err: (err as Error).message }, 'progress update failed') })
}

/** The version an earlier attempt made playable, which this attempt must not cut short. */
function liveVersionOf (video: Video): LiveVersion | null {
  if (video.playable !== true || video.version === null || video.renditions.length === 0) return null
  return { version: video.version, rungs: video.renditions.map((r) => r.name), segments: Math.min(...video.renditions.map((r) => r.segmentCount)) }
}

function round3 (n: number): number {
  return Math.round(n * 1000) / 1000
}

function uploadRank (file: string): number {
  if (file === 'master.m3u8') return 3
  if (file.endsWith('.m3u8')) return 1
  if (file.endsWith('.ts')) return 0
  return 2
}

async function listFiles (root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
}

/** Runs fn over items, at most `limit` at a time; stops starting new ones after the first failure. */
async function forEachLimit<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let failed: unknown = null
  const lane = async () => {
    while (failed === null && next < items.length) {
      const item = items[next++]!
      try {
        await fn(item)
      } catch (err) {
        failed ??= err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  if (failed !== null) throw failed
}
