import type { Ladder, PlannedRung } from './plan-ladder.js'

/**
 * Rungs closer than this in bitrate cost CPU, storage and switches without giving a player a real
 * choice. "About 1.5x": Apple's closest pair, 720p at 3 Mbit/s over 540p at 2, is 1.5x in video
 * but 1.46x in segment bytes (audio and muxing add the same to both), so 1.5 on what a player
 * fetches would drop 540p from every source that fills its caps; 1.4 keeps it, and still drops
 * the slide lecture's 540p (1.23x over 720p) and 360p (1.29x over 234p).
 */
export const MIN_RUNG_RATIO = 1.4

export interface PrunedLadder {
  /** the rungs kept, top first */
  ladder: Ladder
  /** indexes (into the ladder given) of the rungs kept */
  kept: number[]
  /** the rungs dropped, with their bitrate and that of the kept rung they were too close to */
  dropped: Array<{ rung: PlannedRung, bitrate: number, closeTo: string, closeToBitrate: number }>
}

/**
 * Drops rungs whose bitrate is less than `ratio` times that of the next kept rung below, walking
 * up from the lowest; the top and the lowest rung are always kept, so when the top is too close
 * to the rung kept under it, that rung goes. `bitrates` are what each rung will cost a viewer
 * (predicted video plus audio), by ladder index, top first. Pure.
 */
export function pruneLadder (ladder: Ladder, bitrates: readonly number[], ratio = MIN_RUNG_RATIO): PrunedLadder {
  if (bitrates.length !== ladder.length) throw new RangeError(`${bitrates.length} bitrates for ${ladder.length} rungs`)
  const last = ladder.length - 1
  if (last <= 0) return { ladder: [...ladder], kept: ladder.map((_, i) => i), dropped: [] }
  const rate = (i: number) => bitrates[i]!
  const keptBelow: number[] = [last]
  const dropped: PrunedLadder['dropped'] = []
  const drop = (i: number, against: number) => {
    dropped.push({ rung: ladder[i]!, bitrate: rate(i), closeTo: ladder[against]!.name, closeToBitrate: rate(against) })
  }
  for (let i = last - 1; i >= 1; i--) {
    const below = keptBelow[keptBelow.length - 1]!
    if (rate(i) >= ratio * rate(below)) keptBelow.push(i)
    else drop(i, below)
  }
  while (keptBelow.length > 1 && rate(0) < ratio * rate(keptBelow[keptBelow.length - 1]!)) drop(keptBelow.pop()!, 0)
  const kept = [0, ...keptBelow.reverse()]
  dropped.sort((a, b) => ladder.indexOf(a.rung) - ladder.indexOf(b.rung))
  return { ladder: kept.map((i) => ladder[i]!), kept, dropped }
}
