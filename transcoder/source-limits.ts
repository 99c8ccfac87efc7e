import type { Config } from '../src/config.js'
import type { SourceInfo } from '../src/db/documents.js'
import { TranscodeError } from './transcode-error.js'

/** MAX_DURATION_S, MAX_FRAMES, MAX_PIXELS. */
export type SourceLimits = Config['sourceLimits']

/** The ladder's top rung keeps at most this rate; a source without a usable rate is encoded at 30 (see planLadder). */
const MAX_OUTPUT_FPS = 60
const UNKNOWN_RATE_FPS = 30

/** Frames per second the encode will write for this source. */
export function outputFrameRate (source: Pick<SourceInfo, 'frameRate'>): number {
  return source.frameRate > 0 ? Math.min(source.frameRate, MAX_OUTPUT_FPS) : UNKNOWN_RATE_FPS
}

/**
 * Refuses, before any encoding, a source whose transcode would cost more than this server allows:
 * too long, too many output frames, or too large a picture. The encoder writes a constant frame
 * rate, so a file of two frames ten hours apart costs ten hours of frames: its size says nothing.
 * Throws a permanent TranscodeError whose message is for the uploader.
 */
export function checkSourceLimits (source: Pick<SourceInfo, 'duration' | 'frameRate' | 'width' | 'height'>, limits: SourceLimits): void {
  if (source.duration > limits.maxDurationSeconds) {
    refuse(`the video is ${formatDuration(source.duration)} long; this server accepts up to ${formatDuration(limits.maxDurationSeconds)} (MAX_DURATION_S): cut it into shorter parts and upload each`)
  }
  const pixels = source.width * source.height
  if (pixels > limits.maxPixels) {
    refuse(`the picture is ${source.width}x${source.height} (${megapixels(pixels)} megapixels); this server accepts up to ${megapixels(limits.maxPixels)} megapixels (MAX_PIXELS): export it at 3840x2160 (4K) or smaller and upload it again`)
  }
  const fps = outputFrameRate(source)
  const frames = Math.ceil(source.duration * fps)
  if (frames > limits.maxFrames) {
    refuse(`the video would be encoded as ${frames.toLocaleString('en-US')} frames (${formatDuration(source.duration)} at ${round2(fps)} fps); this server accepts up to ${limits.maxFrames.toLocaleString('en-US')} (MAX_FRAMES): upload a shorter part, or export it at 30 fps or less`)
  }
}

function refuse (message: string): never {
  throw new TranscodeError(message, true, { userFacing: true })
}

/** "10 h 0 min", "6 h", "45 min 10 s", "12 s". */
export function formatDuration (seconds: number): string {
  const s = Math.floor(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = s % 60
  if (h > 0) return m === 0 && rest === 0 ? `${h} h` : `${h} h ${m} min`
  if (m > 0) return rest === 0 ? `${m} min` : `${m} min ${rest} s`
  return `${round2(seconds)} s`
}

function megapixels (pixels: number): string {
  return (Math.round(pixels / 100_000) / 10).toString()
}

function round2 (n: number): number {
  return Math.round(n * 100) / 100
}
