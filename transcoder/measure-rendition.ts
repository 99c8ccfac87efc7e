import { readFile, stat, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Rendition } from '../src/db/documents.js'
import type { PlannedRung } from './plan-ladder.js'
import { runProcess, type TranscodeLog } from './run-process.js'
import { fileUrl } from './probe.js'
import { TranscodeError } from './transcode-error.js'

/** A media segment as published: its URI in the media playlist, duration and size. */
export interface MeasuredSegment {
  uri: string
  duration: number
  size: number
}

/** Segment durations and URIs of a media playlist, in order. */
export function parseMediaPlaylist (text: string): Array<{ uri: string, duration: number }> {
  const out: Array<{ uri: string, duration: number }> = []
  let pending: number | null = null
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line.startsWith('#EXTINF:')) pending = Number(line.slice(8).split(',')[0])
    else if (line !== '' && !line.startsWith('#') && pending !== null) {
      out.push({ uri: line, duration: pending })
      pending = null
    }
  }
  return out
}

/**
 * Peak segment bit rate per RFC 8216 section 4.1: the largest bit rate of any contiguous run of
 * segments whose total duration is between 0.5 and 1.5 times the target duration. A playlist too
 * short to hold such a run falls back to its whole bit rate. Pure.
 */
export function peakBitrate (segments: Array<{ duration: number, size: number }>, targetDuration: number): number {
  let peak = 0
  for (let i = 0; i < segments.length; i++) {
    let bytes = 0
    let seconds = 0
    for (let j = i; j < segments.length; j++) {
      bytes += segments[j]!.size
      seconds += segments[j]!.duration
      if (seconds > 1.5 * targetDuration) break
      if (seconds >= 0.5 * targetDuration && seconds > 0) peak = Math.max(peak, bytes * 8 / seconds)
    }
  }
  return peak > 0 ? peak : averageBitrate(segments)
}

/** Total bits over total duration. Pure. */
export function averageBitrate (segments: Array<{ duration: number, size: number }>): number {
  const seconds = segments.reduce((s, x) => s + x.duration, 0)
  const bytes = segments.reduce((s, x) => s + x.size, 0)
  return seconds > 0 ? bytes * 8 / seconds : 0
}

/** EXT-X-TARGETDURATION: the longest segment rounded to the nearest integer (RFC 8216 4.3.3.1). */
export function targetDurationOf (segments: Array<{ duration: number }>): number {
  return Math.max(1, ...segments.map((s) => Math.round(s.duration)))
}

/** RFC 6381 `avc1.PPCCLL` from the first three bytes after an SPS NAL header. */
export function avc1Codec (profileIdc: number, constraints: number, levelIdc: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0')
  return `avc1.${hex(profileIdc)}${hex(constraints)}${hex(levelIdc)}`
}

/** Finds the first SPS in an Annex B H.264 stream and returns its codec string. Pure. */
export function codecFromAnnexB (bytes: Buffer): string | null {
  for (let i = 0; i + 6 < bytes.length; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1 && (bytes[i + 3]! & 0x1f) === 7) {
      return avc1Codec(bytes[i + 4]!, bytes[i + 5]!, bytes[i + 6]!)
    }
  }
  return null
}

export interface MeasuredRendition {
  rendition: Rendition
  segments: MeasuredSegment[]
  targetDuration: number
  /** the sum of segment durations, seconds */
  duration: number
}

/**
 * Measures a finished rung from its files: segment sizes and durations give the peak and average
 * bit rates; the codec string comes from the SPS the encoder actually wrote (so a level x264
 * raised is reported truthfully) and the audio profile ffprobe reads from the first segment.
 */
export async function measureRendition (ffmpegPath: string, ffprobePath: string, rungDir: string, rung: PlannedRung, options: { log?: TranscodeLog, signal?: AbortSignal } = {}): Promise<MeasuredRendition> {
  const listed = parseMediaPlaylist(await readFile(join(rungDir, 'index.m3u8'), 'utf8'))
  if (listed.length === 0) throw new TranscodeError(`rung ${rung.name}: ffmpeg wrote no segments`, false)
  const segments: MeasuredSegment[] = []
  for (const s of listed) segments.push({ ...s, size: (await stat(join(rungDir, s.uri))).size })
  const first = join(rungDir, listed[0]!.uri)

  const codecs = await codecsOfSegment(ffmpegPath, ffprobePath, first, rung, options)

  const targetDuration = targetDurationOf(segments)
  const duration = segments.reduce((s, x) => s + x.duration, 0)
  return {
    rendition: {
      name: rung.name,
      width: rung.width,
      height: rung.height,
      frameRate: rung.frameRate,
      bandwidth: Math.ceil(peakBitrate(segments, targetDuration)),
      averageBandwidth: Math.ceil(averageBitrate(segments)),
      codecs,
      segmentCount: segments.length
    },
    segments,
    targetDuration,
    duration
  }
}

/**
 * The RFC 6381 CODECS of a rung, read from one of its segments: the video codec from the SPS the
 * encoder actually wrote (so a level x264 raised is reported truthfully) and the audio profile
 * ffprobe reads.
 */
export async function codecsOfSegment (ffmpegPath: string, ffprobePath: string, segmentPath: string, rung: PlannedRung, options: { log?: TranscodeLog, signal?: AbortSignal } = {}): Promise<string> {
  const h264 = segmentPath + '.first-frame.h264'
  let videoCodec: string | null
  try {
    await runProcess(ffmpegPath, ['-hide_banner', '-nostdin', '-y', '-v', 'error', '-protocol_whitelist', 'file', '-f', 'mpegts', '-i', fileUrl(segmentPath), '-map', '0:v:0', '-c', 'copy', '-frames:v', '1', '-f', 'h264', fileUrl(h264)],
      { timeoutMs: 30_000, log: options.log, signal: options.signal })
    videoCodec = codecFromAnnexB(await readFile(h264))
  } finally {
    await rm(h264, { force: true })
  }
  if (videoCodec === null) throw new TranscodeError(`rung ${rung.name}: no H.264 sequence header in the first segment`, false)

  const probed = await runProcess(ffprobePath, ['-v', 'error', '-protocol_whitelist', 'file', '-f', 'mpegts', '-print_format', 'json', '-show_entries', 'stream=codec_type,codec_name,profile', fileUrl(segmentPath)],
    { timeoutMs: 30_000, captureStdout: true, log: options.log, signal: options.signal })
  const streams = (JSON.parse(probed.stdout) as { streams?: Array<{ codec_type?: string, codec_name?: string, profile?: string }> }).streams ?? []
  const audio = streams.find((s) => s.codec_type === 'audio')
  const codecs = [videoCodec]
  if (audio !== undefined) {
    if (audio.codec_name !== 'aac') throw new TranscodeError(`rung ${rung.name}: unexpected audio codec ${audio.codec_name ?? 'unknown'}`, false)
    // RFC 6381 mp4a.40.<audio object type>: LC is 2, HE-AAC 5, HE-AACv2 29.
    codecs.push(audio.profile === 'HE-AACv2' ? 'mp4a.40.29' : audio.profile === 'HE-AAC' ? 'mp4a.40.5' : 'mp4a.40.2')
  }
  return codecs.join(',')
}
