import type { Database } from '../src/db/collection.js'
import type { Job, SourceInfo, TranscodeMeasure } from '../src/db/documents.js'
import { JOBS } from './job-queue.js'
import { outputFrameRate } from './source-limits.js'

/** Finished transcodes the estimate looks back on: recent enough to reflect this machine's load. */
const RECENT = 9

/** Output pixels per content second: what a transcode's cost scales with. */
export function pixelRate (source: Pick<SourceInfo, 'width' | 'height' | 'frameRate'>): number {
  return source.width * source.height * outputFrameRate(source)
}

/** What a finished transcode cost, to be stored on its job. */
export function measureOf (source: Pick<SourceInfo, 'width' | 'height' | 'frameRate' | 'duration'>, wallSeconds: number): TranscodeMeasure {
  return { contentSeconds: source.duration, wallSeconds, pixelRate: pixelRate(source) }
}

/**
 * How fast this installation transcodes, in output pixel-seconds per wall second: the median of
 * the last RECENT finished jobs. It lives in the metadata store, so API nodes and workers (other
 * processes) read the same figure; null before any job finished.
 */
export async function recentThroughput (db: Database): Promise<number | null> {
  const done = await db.collection<Job>(JOBS).find(
    { state: 'done', 'measured.wallSeconds': { $gt: 0 } },
    { sort: { updatedAt: -1 }, limit: RECENT, projection: { measured: 1 } }
  )
  const rates = done
    .map((j) => j.measured!)
    .filter((m) => m.contentSeconds > 0 && m.pixelRate > 0)
    .map((m) => m.contentSeconds * m.pixelRate / m.wallSeconds)
    .sort((a, b) => a - b)
  if (rates.length === 0) return null
  const mid = Math.floor(rates.length / 2)
  return rates.length % 2 === 1 ? rates[mid]! : (rates[mid - 1]! + rates[mid]!) / 2
}

/** Wall seconds a transcode of this source should take at the given throughput; null without one. */
export function expectedTranscodeSeconds (source: Pick<SourceInfo, 'width' | 'height' | 'frameRate' | 'duration'>, throughput: number | null | undefined): number | null {
  if (throughput === null || throughput === undefined || !(throughput > 0)) return null
  return source.duration * pixelRate(source) / throughput
}
