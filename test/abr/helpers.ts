import type { AbrPolicy, PolicyFactory } from '../../src/abr/abr-policy.js'
import type { VideoSegments } from '../../src/abr/video-segments.js'

/** A policy playing a fixed rung sequence. */
export const sequence = (rungs: number[]): AbrPolicy => ({ choose: (view) => rungs[view.index]! })

/** A video whose every segment of a rung has the same size. */
export function flatVideo (ladderKbps: number[], bytes: number[], count: number, segmentSeconds = 4): VideoSegments {
  return { ladderKbps, segmentSeconds, bytes: Array.from({ length: count }, () => [...bytes]) }
}

export const named = (name: string, create: () => AbrPolicy): PolicyFactory => ({ name, create })
