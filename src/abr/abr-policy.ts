import type { VideoSegments } from './video-segments.js'

/** One finished segment download, as the simulator's player saw it. Times in seconds. */
export interface Download {
  index: number
  rung: number
  bytes: number
  /** The player sent the request. */
  requestS: number
  /** The first byte reached the player (one request latency later). */
  startS: number
  /** The last byte reached the player. */
  endS: number
  /** The player's buffer when it sent the request. */
  bufferS: number
  /** When the player had received the first `bytes` of this body (within [startS, endS]): what a sender's kernel would see acknowledged. */
  receivedBy: (bytes: number) => number
}

/** What a policy may know when it chooses segment `index`: the past, and the manifest. */
export interface PlayerView {
  index: number
  nowS: number
  /** The player's true buffer, seconds (client-side policies read it; the server-side one must not). */
  bufferS: number
  previous: number | null
  downloads: readonly Download[]
  video: VideoSegments
  segmentCount: number
  latencyS: number
  bufferCapS: number
}

/** An ABR algorithm as the simulator drives it: a fresh instance per session. */
export interface AbrPolicy {
  choose: (view: PlayerView) => number
}

export interface PolicyFactory {
  name: string
  create: () => AbrPolicy
}
