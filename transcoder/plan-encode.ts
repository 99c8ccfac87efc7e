import type { SourceInfo } from '../src/db/documents.js'
import { DEFAULT_CRF, type EncodeOptions } from './build-ffmpeg-args.js'
import { measureComplexity, type SourceComplexity } from './measure-complexity.js'
import { planLadder, type Ladder } from './plan-ladder.js'
import { playerBitrate, predictBitrates } from './predict-bitrates.js'
import { MIN_RUNG_RATIO, pruneLadder, type PrunedLadder } from './prune-ladder.js'
import type { TranscodeLog } from './run-process.js'

/** What planning may use besides the probe: the original on local disk and the tools. */
export interface PlanInput {
  ffmpegPath: string
  /** the original, a local file */
  original: string
  source: SourceInfo
  log: TranscodeLog
  signal: AbortSignal
  /** the HLS segment length, for the keyframe spacing of the complexity probe (default 4) */
  segmentSeconds?: number
  /** where the complexity probe's temp dir goes (default: the OS temp dir) */
  tmpRoot?: string
}

/** The encode of one job: its ladder, and encoder options that depend on the source. */
export interface EncodePlan {
  ladder: Ladder
  /** merged into buildFfmpegArgs' options */
  encode: Partial<Pick<EncodeOptions, 'crf' | 'rungCrf' | 'deinterlace' | 'audioStream'>>
  /** the probe encodes the plan was made from; null when the probe failed and the full ladder is encoded */
  complexity: SourceComplexity | null
  /** predicted average video bitrate of each rung kept (bits/s), by ladder index */
  predicted: number[]
  /** predicted segment bytes over time of each rung kept (video, audio and MPEG-TS), what pruning compared */
  predictedTotal: number[]
  /** rungs left out for being too close in bitrate to a kept one */
  dropped: PrunedLadder['dropped']
  /** a still source (slides): its text-carrying rungs get a lower CRF */
  still: boolean
}

/**
 * Below this many bits per pixel and frame at 360p (CRF 23), a source is taken as still: a slide
 * lecture with a small camera inset measured 0.018, a fractal zoom 0.095, Apple's 720p budget
 * is 0.11. About 700 kbit/s at 720p30.
 */
export const STILL_BITS_PER_PIXEL = 0.03
/** The CRF of the text-carrying rungs of a still source: about 1.3x the bits of CRF 23, on a rung that costs little. */
export const STILL_TEXT_CRF = DEFAULT_CRF - 3
/** Rungs from this short side up carry legible slide text (a 24 px line at 1080p is 12 px at 540p). */
export const TEXT_SHORT_SIDE = 540

/** Whether the probe says the source is still. Pure. */
export function isStill (c: SourceComplexity): boolean {
  const probe = c.encodes[c.encodes.length - 1]
  if (probe === undefined) return false
  return probe.bitrate / (probe.width * probe.height * probe.frameRate) < STILL_BITS_PER_PIXEL
}

/** Each rung's CRF: the default, and STILL_TEXT_CRF for the text-carrying rungs of a still source. Pure. */
export function rungCrfs (ladder: Ladder, still: boolean): number[] {
  return ladder.map((r) => (still && Math.min(r.width, r.height) >= TEXT_SHORT_SIDE ? STILL_TEXT_CRF : DEFAULT_CRF))
}

/**
 * From the full ladder and the probe: each rung's CRF, its predicted bitrate at that CRF, and
 * the rungs kept once those closer than MIN_RUNG_RATIO (in what a player will fetch: video,
 * audio and muxing) to the kept rung below are dropped. Pure.
 */
export function planFromComplexity (full: Ladder, c: SourceComplexity, hasAudio: boolean): Pick<EncodePlan, 'ladder' | 'predicted' | 'predictedTotal' | 'dropped' | 'still'> & { rungCrf: number[] } {
  const still = isStill(c)
  const crfs = rungCrfs(full, still)
  const video = predictBitrates(full, crfs, c)
  const total = video.map((v, i) => playerBitrate(v, full[i]!, hasAudio))
  const pruned = pruneLadder(full, total)
  return {
    ladder: pruned.ladder,
    rungCrf: pruned.kept.map((i) => crfs[i]!),
    predicted: pruned.kept.map((i) => video[i]!),
    predictedTotal: pruned.kept.map((i) => total[i]!),
    dropped: pruned.dropped,
    still
  }
}

/**
 * Plans the encode of a source: the reference ladder for its size, deinterlacing when it is
 * interlaced, the audio track to keep, and, from a short probe encode, a CRF per rung and the
 * rungs worth encoding. The ladder is final before the encode starts (segments are published as
 * they are made). If the probe fails, the full ladder is encoded at the default CRF.
 */
export async function planEncode (input: PlanInput): Promise<EncodePlan> {
  const { source, log, signal } = input
  const full = planLadder(source)
  const base: EncodePlan['encode'] = {
    ...(source.interlaced === true ? { deinterlace: true } : {}),
    ...(typeof source.audioStream === 'number' ? { audioStream: source.audioStream } : {})
  }
  let complexity: SourceComplexity
  try {
    complexity = await measureComplexity({
      ffmpegPath: input.ffmpegPath, original: input.original, source, segmentSeconds: input.segmentSeconds, log, signal, tmpRoot: input.tmpRoot
    })
  } catch (err) {
    if (signal.aborted) throw err
    log.warn({ err: (err as Error).message }, 'complexity probe failed; encoding the full ladder at the default CRF')
    return { ladder: full, encode: base, complexity: null, predicted: [], predictedTotal: [], dropped: [], still: false }
  }
  const planned = planFromComplexity(full, complexity, source.audioCodec !== null)
  if (planned.dropped.length > 0) {
    log.info({ dropped: planned.dropped.map((d) => `${d.rung.name} ~${Math.round(d.bitrate / 1000)}k within ${MIN_RUNG_RATIO}x of ${d.closeTo} ~${Math.round(d.closeToBitrate / 1000)}k`) }, 'ladder pruned')
  }
  return {
    ladder: planned.ladder,
    encode: { ...base, rungCrf: planned.rungCrf },
    complexity,
    predicted: planned.predicted,
    predictedTotal: planned.predictedTotal,
    dropped: planned.dropped,
    still: planned.still
  }
}
