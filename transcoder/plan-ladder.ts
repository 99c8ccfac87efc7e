import type { SourceInfo } from '../src/db/documents.js'

/** One rung Lectern will encode: a picture size, a frame rate and the encoder's budget. */
export interface PlannedRung {
  /** "720p" (by the short side, so portrait video gets the same names); also the output folder */
  name: string
  width: number
  height: number
  frameRate: number
  /** target video bitrate, bits/s; the VBV cap of the capped-CRF encode */
  videoBitrate: number
  /** VBV buffer, bits: 2 s at the cap, which bounds any segment's peak to about twice the cap */
  bufferSize: number
  audioBitrate: number
  profile: 'high'
  /** H.264 level, e.g. "3.1" */
  level: string
}

export type Ladder = PlannedRung[]

/**
 * The reference ladder, modelled on Apple's HLS authoring specification for H.264 at 30 fps and
 * 16:9 (the short side names the rung). Other shapes and frame rates scale these budgets.
 */
export const REFERENCE_RUNGS: ReadonlyArray<{ short: number, videoBitrate: number, audioBitrate: number }> = [
  { short: 1080, videoBitrate: 6_000_000, audioBitrate: 128_000 },
  { short: 720, videoBitrate: 3_000_000, audioBitrate: 128_000 },
  { short: 540, videoBitrate: 2_000_000, audioBitrate: 128_000 },
  { short: 360, videoBitrate: 800_000, audioBitrate: 96_000 },
  { short: 234, videoBitrate: 250_000, audioBitrate: 64_000 }
]

/** The biggest short side Lectern publishes; larger sources are scaled down to it. */
export const MAX_SHORT_SIDE = 1080
/** A source this much taller than the standard rung below it gets a rung of its own size. */
const OWN_RUNG_RATIO = 1.15
const MIN_VIDEO_BITRATE = 64_000
/** Rungs below 720p never exceed 30 fps; rungs at or above it keep up to 60. */
const MAX_FPS_SMALL = 30
const MAX_FPS_LARGE = 60

const even = (n: number) => Math.max(2, Math.round(n / 2) * 2)
const evenDown = (n: number) => Math.max(2, Math.floor(n / 2) * 2)

/** The largest rate at most `cap` that keeps the source cadence (60 -> 30, 50 -> 25, 59.94 -> 29.97). */
export function cappedFrameRate (sourceFps: number, cap: number): number {
  if (sourceFps <= cap) return sourceFps
  return Math.round(sourceFps / Math.ceil(sourceFps / cap) * 1000) / 1000
}

/** H.264 levels (ITU-T H.264 Table A-1): max frame size and rate in macroblocks, High-profile max bitrate. */
const LEVELS: ReadonlyArray<{ level: string, maxFs: number, maxMbps: number, maxBitrate: number }> = [
  { level: '3.0', maxFs: 1620, maxMbps: 40_500, maxBitrate: 12_500_000 },
  { level: '3.1', maxFs: 3600, maxMbps: 108_000, maxBitrate: 17_500_000 },
  { level: '3.2', maxFs: 5120, maxMbps: 216_000, maxBitrate: 25_000_000 },
  { level: '4.0', maxFs: 8192, maxMbps: 245_760, maxBitrate: 25_000_000 },
  { level: '4.1', maxFs: 8192, maxMbps: 245_760, maxBitrate: 62_500_000 },
  { level: '4.2', maxFs: 8704, maxMbps: 522_240, maxBitrate: 62_500_000 },
  { level: '5.0', maxFs: 22_080, maxMbps: 589_824, maxBitrate: 168_750_000 },
  { level: '5.1', maxFs: 36_864, maxMbps: 983_040, maxBitrate: 300_000_000 }
]

/** The lowest level (3.0 at least, which every H.264 player decodes) that holds this rung. */
export function h264Level (width: number, height: number, fps: number, maxBitrate: number): string {
  const mbs = Math.ceil(width / 16) * Math.ceil(height / 16)
  const maxSide = Math.max(Math.ceil(width / 16), Math.ceil(height / 16))
  const found = LEVELS.find((l) => mbs <= l.maxFs && maxSide <= Math.sqrt(8 * l.maxFs) && mbs * fps <= l.maxMbps && maxBitrate <= l.maxBitrate)
  return (found ?? LEVELS[LEVELS.length - 1]!).level
}

/**
 * Picks the rungs for a source: never above its size, always one rung at (or just under) it,
 * the aspect ratio kept with even dimensions, budgets scaled by picture area and frame rate and
 * capped by what the source itself spends. Pure.
 */
export function planLadder (source: Pick<SourceInfo, 'width' | 'height' | 'frameRate' | 'bitrate' | 'audioCodec'>): Ladder {
  const { width, height } = source
  if (!(width > 0 && height > 0)) throw new RangeError(`source size ${width}x${height} is not a picture`)
  const fps = source.frameRate > 0 ? source.frameRate : 30
  const portrait = height > width
  const sourceShort = Math.min(width, height)
  const aspect = Math.max(width, height) / sourceShort
  const topShort = evenDown(Math.min(sourceShort, MAX_SHORT_SIDE))

  const standard = REFERENCE_RUNGS.filter((r) => r.short <= topShort)
  const shorts: number[] = standard.map((r) => r.short)
  const largest = standard[0]
  if (largest === undefined || topShort / largest.short >= OWN_RUNG_RATIO) shorts.unshift(topShort)

  // What the source spends on video: its total rate less a typical audio track.
  const sourceVideoBitrate = Math.max(MIN_VIDEO_BITRATE, source.bitrate - (source.audioCodec !== null ? 128_000 : 0))
  const sourcePixelRate = width * height * fps

  return shorts.map((short) => {
    const long = Math.min(even(short * aspect), evenDown(Math.max(width, height)))
    const w = portrait ? short : long
    const h = portrait ? long : short
    const rungFps = cappedFrameRate(fps, short >= 720 ? MAX_FPS_LARGE : MAX_FPS_SMALL)
    const reference = referenceFor(short)
    // Budgets follow area (16:9 is the reference shape) and, sublinearly, frame rate:
    // 60 fps costs about 1.5x of 30 fps, as in Apple's table.
    const areaFactor = (w * h) / (referenceWidth(short) * short)
    const fpsFactor = Math.pow(rungFps / 30, 0.6)
    const tableBitrate = reference.videoBitrate * areaFactor * fpsFactor
    // A source never gets more bits than it has: scale its own rate down to each rung's pixel rate.
    const sourceCap = sourceVideoBitrate * Math.pow(Math.min(1, (w * h * rungFps) / sourcePixelRate), 0.75)
    const videoBitrate = roundKbps(Math.max(MIN_VIDEO_BITRATE, Math.min(tableBitrate, sourceCap)))
    const bufferSize = 2 * videoBitrate
    return {
      name: `${short}p`,
      width: w,
      height: h,
      frameRate: rungFps,
      videoBitrate,
      bufferSize,
      audioBitrate: reference.audioBitrate,
      profile: 'high' as const,
      level: h264Level(w, h, rungFps, videoBitrate)
    }
  })
}

/** The rung whose faststart MP4 is the progressive download: 720p, or the top rung below it. */
export function progressiveRung (ladder: Ladder): PlannedRung {
  const short = (r: PlannedRung) => Math.min(r.width, r.height)
  return ladder.find((r) => short(r) <= 720) ?? ladder[ladder.length - 1]!
}

function referenceFor (short: number): { videoBitrate: number, audioBitrate: number } {
  const exact = REFERENCE_RUNGS.find((r) => r.short === short)
  if (exact !== undefined) return exact
  // A rung of the source's own size: interpolate per pixel between the reference rungs around it.
  const above = [...REFERENCE_RUNGS].reverse().find((r) => r.short > short)
  const below = REFERENCE_RUNGS.find((r) => r.short < short)
  const anchor = below ?? above!
  const perPixel = anchor.videoBitrate / (referenceWidth(anchor.short) * anchor.short)
  const interpolated = perPixel * referenceWidth(short) * short
  return {
    videoBitrate: above !== undefined ? Math.min(above.videoBitrate, interpolated) : interpolated,
    audioBitrate: (below ?? anchor).audioBitrate
  }
}

function referenceWidth (short: number): number {
  return even(short * 16 / 9)
}

function roundKbps (bps: number): number {
  return Math.round(bps / 1000) * 1000
}
