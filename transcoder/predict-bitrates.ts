import type { Ladder, PlannedRung } from './plan-ladder.js'
import type { SourceComplexity } from './measure-complexity.js'

/**
 * How much more x264 spends per CRF step down, measured on these sources at veryfast: CRF 20
 * against 23 cost 1.24-1.34x on a slide lecture and 1.37x on uncapped high motion (1.1^3 = 1.33).
 */
export const CRF_STEP_FACTOR = 1.1
/** Frame rate costs sublinearly (60 fps about 1.5x of 30), as the reference ladder assumes. */
const FPS_EXPONENT = 0.6
/**
 * Above the larger probe size bits grow faster than between the two probes: detail finer than
 * the probe's lines shows only at larger sizes. With probes at 180p and 360p, 540p and 720p came
 * out at 0.8x without it on both a slide lecture and a fractal zoom.
 */
const EXTRAPOLATION_EXTRA_EXPONENT = 0.1
const MIN_EXPONENT = 0.3
const MAX_EXPONENT = 1.2

/** How a probe's bitrate grows with picture area, from the two probe sizes. Pure. */
export function areaExponent (c: SourceComplexity): number {
  const [small, large] = c.encodes
  if (small === undefined || large === undefined) return 0.75
  const areas = (large.width * large.height) / (small.width * small.height)
  if (!(areas > 1.01) || !(small.bitrate > 0) || !(large.bitrate > 0)) return 0.75
  const exponent = Math.log(large.bitrate / small.bitrate) / Math.log(areas)
  return Math.min(MAX_EXPONENT, Math.max(MIN_EXPONENT, exponent))
}

/**
 * The average video bitrate x264 will reach on a rung at a given CRF, before its VBV cap:
 * the nearest probe encode scaled by area (the measured exponent), frame rate and CRF. Pure.
 */
export function predictUncapped (rung: Pick<PlannedRung, 'width' | 'height' | 'frameRate'>, crf: number, c: SourceComplexity): number {
  const [small, large] = c.encodes
  if (small === undefined) throw new RangeError('no probe encode to predict from')
  const exponent = areaExponent(c)
  const area = rung.width * rung.height
  const base = large === undefined || area <= large.width * large.height
    ? small.bitrate * Math.pow(area / (small.width * small.height), exponent)
    : large.bitrate * Math.pow(area / (large.width * large.height), exponent + EXTRAPOLATION_EXTRA_EXPONENT)
  return base * Math.pow(rung.frameRate / small.frameRate, FPS_EXPONENT) * Math.pow(CRF_STEP_FACTOR, c.crf - crf)
}

/** Each rung's predicted average video bitrate under its cap-CRF encode (bits/s). Pure. */
export function predictBitrates (ladder: Ladder, crfs: readonly number[], c: SourceComplexity): number[] {
  return ladder.map((rung, i) => Math.round(Math.min(rung.videoBitrate, predictUncapped(rung, crfs[i] ?? c.crf, c))))
}

/**
 * MPEG-TS costs beyond the encoders' bits, measured on Lectern's rungs (40 s slide lecture, audio
 * gathered into PES packets of up to 0.7 s, see MUX_DELAY_S): about 4% on video, and about
 * 35 kbit/s per rung with audio. Segment bytes came to 492/393/266/175 kbit/s for 313/216/128/75k
 * of video and 131/131/99/67k of audio. (With -muxdelay 0, every AAC frame in a PES packet of its
 * own, the muxing was about 75 kbit/s: 522/424/305/236k for the same streams.)
 */
export const TS_VIDEO_OVERHEAD = 0.04
export const TS_AUDIO_OVERHEAD_BPS = 35_000

/** What a rung will cost a player, segment bytes over time: predicted video, its audio, and the muxing around them. Pure. */
export function playerBitrate (video: number, rung: Pick<PlannedRung, 'audioBitrate'>, hasAudio: boolean): number {
  return Math.round(video * (1 + TS_VIDEO_OVERHEAD) + (hasAudio ? rung.audioBitrate + TS_AUDIO_OVERHEAD_BPS : 0))
}
