import type { SourceInfo } from '../src/db/documents.js'
import type { EncodeOptions } from './build-ffmpeg-args.js'
import { planLadder, type Ladder } from './plan-ladder.js'
import type { TranscodeLog } from './run-process.js'

/** What planning may use besides the probe: the original on local disk and the tools. */
export interface PlanInput {
  ffmpegPath: string
  /** the original, a local file */
  original: string
  source: SourceInfo
  log: TranscodeLog
  signal: AbortSignal
}

/** The encode of one job: its ladder, and encoder options that depend on the source. */
export interface EncodePlan {
  ladder: Ladder
  /** merged into buildFfmpegArgs' options */
  encode: Partial<Pick<EncodeOptions, 'crf'>>
}

/** Plans the encode of a source. */
export async function planEncode (input: PlanInput): Promise<EncodePlan> {
  return { ladder: planLadder(input.source), encode: {} }
}
