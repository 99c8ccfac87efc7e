import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { Ladder, PlannedRung } from './plan-ladder.js'
import { safeInputArgs, fileUrl } from './probe.js'

export interface EncodeOptions {
  /** the original, a local file */
  input: string
  /** where rung folders and progressive.mp4 are written */
  outputDir: string
  ladder: Ladder
  /** index into ladder of the rung that is also written as the faststart MP4; -1 for none */
  progressiveIndex: number
  hasAudio: boolean
  segmentSeconds: number
  /** x264 preset; the benchmark and tests use the same default as production */
  preset?: string
  /** quality of the capped-CRF encode, every rung (tests, benchmarks); wins over rungCrf */
  crf?: number
  /** quality of each rung's capped-CRF encode, by ladder index, as planned for the source */
  rungCrf?: number[]
  /** the source is interlaced: bwdif makes one frame per frame (not per field) before anything else */
  deinterlace?: boolean
  /** which audio stream is encoded (N of -map 0:a:N); default the first */
  audioStream?: number
  /** threads per x264 encoder; the rungs already run in parallel, so few threads each */
  encoderThreads?: (rung: PlannedRung, index: number) => number
  /** threads of the filter graph (scaling) */
  filterThreads?: number
  /** write `-progress` key=value lines to stdout */
  progress?: boolean
}

export const DEFAULT_PRESET = 'veryfast'
export const DEFAULT_CRF = 23

/**
 * Threads per x264 encoder. The rungs encode side by side in one process, so the big rungs take
 * most threads and the small ones one or two: on two cores, 4/4/2/1/1 for 1080p..234p. Giving
 * every rung x264's default (1.5x cores) only adds frame latency and lookahead copies without
 * finding idle cores. Scales with the machine, within what x264's frame threading uses well.
 */
export function defaultEncoderThreads (rung: PlannedRung, cores = availableParallelism()): number {
  const pixels = rung.width * rung.height
  const onTwoCores = pixels >= 1280 * 720 ? 4 : pixels >= 960 * 540 ? 2 : 1
  return Math.max(1, Math.min(16, Math.round(onTwoCores * cores / 2)))
}

/** Keyframe spacing: 2 s when it divides the segment length, otherwise one keyframe per segment. */
export function keyframeSeconds (segmentSeconds: number): number {
  return segmentSeconds % 2 === 0 ? 2 : segmentSeconds
}

/**
 * How long the MPEG-TS muxer may gather audio frames into one PES packet (ffmpeg's default mux
 * delay). With none (`-muxdelay 0`, once used to keep every rung on the tee's timeline) every AAC
 * frame goes out in a packet of its own, about 75 kbit/s of overhead per rung; the delay would
 * also shift timestamps by twice its length, which `mpegts_copyts` turns off, so every rung, the
 * tee's included, keeps the encoder's timeline and players can switch at any segment boundary.
 */
export const MUX_DELAY_S = 0.7

/** Paths that the tee muxer's option syntax could misread. Temp dirs never have these. */
const TEE_UNSAFE = /[:|[\]\\'"=]/

/** The media playlist, segment pattern and MP4 of a rung inside outputDir. */
export function rungPaths (outputDir: string, rung: PlannedRung) {
  const dir = join(outputDir, rung.name)
  return { dir, playlist: join(dir, 'index.m3u8'), segments: join(dir, 'segment-%05d.ts') }
}

export function progressivePath (outputDir: string): string {
  return join(outputDir, 'progressive.mp4')
}

/**
 * One ffmpeg invocation for the whole ladder: the source is decoded once; each rung is scaled
 * from the rung above it (a cascade, so small rungs never touch full-size frames); each rung is
 * encoded once with capped CRF and keyframes forced at the same timestamps in every rung; each
 * rung is written as HLS, and the progressive rung's encoded packets also go, through the tee
 * muxer, into a faststart MP4 (no second encode). Pure.
 */
export function buildFfmpegArgs (o: EncodeOptions): string[] {
  const preset = o.preset ?? DEFAULT_PRESET
  const crfOf = (i: number) => o.crf ?? o.rungCrf?.[i] ?? DEFAULT_CRF
  const audioMap = `0:a:${o.audioStream ?? 0}`
  const kf = keyframeSeconds(o.segmentSeconds)
  const threadsFor = o.encoderThreads ?? ((rung: PlannedRung) => defaultEncoderThreads(rung))
  if (o.ladder.length === 0) throw new RangeError('empty ladder')

  // The cascade: rung i is made from rung i-1's frames. Frame rate drops happen before scaling.
  const chains: string[] = []
  let from = '[0:v:0]'
  o.ladder.forEach((rung, i) => {
    const above = i === 0 ? undefined : o.ladder[i - 1]
    const filters: string[] = []
    // One frame out per frame in (send_frame), so the planned frame rate holds; only frames
    // flagged interlaced are touched, so a mislabelled progressive source passes unchanged.
    if (i === 0 && o.deinterlace === true) filters.push('bwdif=mode=send_frame:deint=interlaced')
    if (above === undefined || above.frameRate !== rung.frameRate) filters.push(`fps=${rung.frameRate}`)
    filters.push(`scale=${rung.width}:${rung.height}:flags=bicubic`)
    if (i === 0) filters.push('format=yuv420p')
    filters.push('setsar=1')
    const last = i === o.ladder.length - 1
    chains.push(`${from}${filters.join(',')}${last ? `[v${i}]` : `,split=2[v${i}][c${i}]`}`)
    from = `[c${i}]`
  })

  const args: string[] = [
    '-hide_banner', '-nostdin', '-y', '-v', 'error',
    ...(o.progress === false ? [] : ['-progress', 'pipe:1', '-stats_period', '1', '-nostats']),
    ...safeInputArgs(),
    '-i', fileUrl(o.input),
    '-filter_complex', chains.join(';'),
    ...(o.filterThreads !== undefined ? ['-filter_complex_threads', String(o.filterThreads)] : [])
  ]

  o.ladder.forEach((rung, i) => {
    const gop = Math.ceil(rung.frameRate * kf)
    const paths = rungPaths(o.outputDir, rung)
    args.push(
      '-map', `[v${i}]`,
      ...(o.hasAudio ? ['-map', audioMap] : []),
      '-map_metadata', '-1', '-map_chapters', '-1',
      '-c:v', 'libx264', '-preset', preset,
      '-profile:v', rung.profile, '-level:v', rung.level,
      '-crf', String(crfOf(i)),
      '-maxrate', String(rung.videoBitrate), '-bufsize', String(rung.bufferSize),
      '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
      '-force_key_frames', `expr:gte(t,n_forced*${kf})`, '-forced-idr', '1',
      '-threads', String(threadsFor(rung, i)),
      ...(o.hasAudio ? ['-c:a', 'aac', '-b:a', String(rung.audioBitrate), '-ac', '2', '-ar', '48000'] : []),
      '-max_muxing_queue_size', '4096'
    )
    // EVENT, not VOD: ffmpeg writes a VOD playlist only when the encode ends, an EVENT one after
    // every segment (through a temp file and a rename), which is how segments are published as
    // they appear. Lectern writes the playlists it serves itself.
    const hls = {
      hls_time: String(o.segmentSeconds),
      hls_playlist_type: 'event',
      hls_flags: 'independent_segments+temp_file',
      hls_segment_type: 'mpegts',
      // Timestamps as the encoder made them, in every rung (see MUX_DELAY_S).
      hls_ts_options: 'mpegts_copyts=1',
      hls_segment_filename: paths.segments
    }
    if (i === o.progressiveIndex) {
      const mp4 = progressivePath(o.outputDir)
      for (const p of [paths.playlist, paths.segments, mp4]) {
        if (TEE_UNSAFE.test(p)) throw new RangeError(`output path "${p}" has characters the tee muxer cannot take`)
      }
      // Tee option values escape their own '=' and ':' with a backslash.
      const hlsSlave = Object.entries({ f: 'hls', max_delay: String(MUX_DELAY_S * 1e6), ...hls }).map(([k, v]) => `${k}=${v.replace(/[=:\\]/g, '\\$&')}`).join(':')
      // MP4 needs the codec headers out of band; the MPEG-TS muxer repeats them before each IDR.
      args.push('-flags:v', '+global_header', '-flags:a', '+global_header', '-f', 'tee',
        `[${hlsSlave}]${paths.playlist}|[f=mp4:movflags=+faststart]${mp4}`)
    } else {
      args.push('-muxdelay', String(MUX_DELAY_S), '-f', 'hls', ...Object.entries(hls).flatMap(([k, v]) => [`-${k}`, v]), paths.playlist)
    }
  })
  return args
}
