import { PLAN_HORIZON } from '../abr/plan-ahead.js'
import type { ObjectInfo } from '../storage/object-store.js'

/**
 * Bits of every rendition's segment `index` and of the next few (rows[k][rung], rungs in ladder
 * order), from the sizes storage reports for the segment objects: what the lookahead of
 * src/abr/plan-ahead.ts rests on. Sizes are read through the object-info cache (one head() per
 * object, ever, and concurrent ones shared), so only the first viewer of a segment waits for them,
 * and then for one parallel round. Rows stop at the first segment some rendition cannot size (not
 * published yet, or storage failing); undefined when this segment cannot be sized: the choice then
 * falls back to its rule.
 */
export async function upcomingSegmentBits (
  info: (key: string) => ObjectInfo | Promise<ObjectInfo>,
  keyOf: (rung: number, segment: number) => string,
  rungs: number,
  index: number,
  segments: number
): Promise<number[][] | undefined> {
  const rows: Array<Array<number | Promise<number>>> = []
  let pending = false
  for (let s = index; s < Math.min(segments, index + PLAN_HORIZON); s++) {
    const row: Array<number | Promise<number>> = []
    for (let r = 0; r < rungs; r++) {
      const known = info(keyOf(r, s))
      if (known instanceof Promise) {
        pending = true
        row.push(known.then((i) => i.size * 8, () => Number.NaN))
      } else row.push(known.size * 8)
    }
    rows.push(row)
  }
  const sized: number[][] = pending ? await Promise.all(rows.map(async (row) => await Promise.all(row))) : rows as number[][]
  const usable = sized.findIndex((row) => row.some((bits) => !(bits > 0)))
  const out = usable === -1 ? sized : sized.slice(0, usable)
  return out.length === 0 ? undefined : out
}
