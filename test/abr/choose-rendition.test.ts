import t from 'tap'
import { chooseRendition, safeStartIndex } from '../../src/abr/choose-rendition.js'
import { addSample, estimateBps, lowEstimateBps, newEstimator } from '../../src/abr/bandwidth-estimator.js'

const LADDER = [300_000, 750_000, 1_200_000, 1_850_000, 2_850_000, 4_300_000]
const SEG = 4

t.test('safe start: the highest rung under 1.5 Mbit/s with nothing known', async (t) => {
  t.equal(safeStartIndex(LADDER, null), 2)
  t.equal(safeStartIndex([2e6, 5e6], null), 0, 'the lowest when none is under')
  t.equal(safeStartIndex([400_000, 1_400_000, 1_600_000], null), 1)
  t.equal(safeStartIndex(LADDER, 20e6), 5, 'a known fast network starts at the top')
  t.equal(safeStartIndex(LADDER, 1e6), 1)
})

t.test('nothing known: keep the current rung, or start at the lowest', async (t) => {
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: null, bufferSeconds: null, current: null, segmentSeconds: SEG }), 0)
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: null, bufferSeconds: 10, current: 4, segmentSeconds: SEG }), 4)
})

t.test('a one-rung ladder has only index 0', async (t) => {
  t.equal(chooseRendition({ ladderBps: [1e6], estimateBps: 1, bufferSeconds: 0, current: 0, segmentSeconds: SEG }), 0)
})

t.test('an estimate below the rung: step down at once, several rungs if needed', async (t) => {
  // 10 s of buffer: 0.75 of 1 Mbit/s carries the 750k rung, whose 3 s download fits
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: 1e6, bufferSeconds: 10, current: 5, segmentSeconds: SEG }), 1)
  // an empty buffer: half the estimate, the lowest
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: 1e6, bufferSeconds: 0, current: 5, segmentSeconds: SEG }), 0)
})

t.test('the safety margin follows the buffer: a little over half the estimate when nearly empty, all of it at 20 s', async (t) => {
  const at = (bufferSeconds: number) => chooseRendition({ ladderBps: LADDER, estimateBps: 3e6, bufferSeconds, current: 0, segmentSeconds: SEG })
  t.equal(at(2), 2, '2 s: 0.55 x 3 Mbit/s carries 1200k')
  t.equal(at(20), 4, '3 Mbit/s carries 2850k')
})

t.test('a step up waits until the rung was held three segments', async (t) => {
  const input = { ladderBps: LADDER, estimateBps: 10e6, bufferSeconds: 20, current: 1, segmentSeconds: SEG }
  t.equal(chooseRendition({ ...input, heldSegments: 1 }), 1)
  t.equal(chooseRendition({ ...input, heldSegments: 2 }), 1)
  t.equal(chooseRendition({ ...input, heldSegments: 3 }), 5)
})

t.test('sizes come from AVERAGE-BANDWIDTH when given', async (t) => {
  const peak = LADDER.map((b) => b * 2)
  const input = { ladderBps: peak, estimateBps: 2.2e6, bufferSeconds: 20, current: 0, segmentSeconds: SEG }
  t.equal(chooseRendition({ ...input, averageBps: LADDER }), 3, '2.2 Mbit/s carries the 1850k average')
  t.equal(chooseRendition(input), 1, 'but only the 750k rung by its 1.5 Mbit/s peak')
})

t.test('a low estimate under half the estimate is a drop: followed at once, even with a deep buffer', async (t) => {
  const input = { ladderBps: LADDER, estimateBps: 4e6, bufferSeconds: 30, current: 5, segmentSeconds: SEG }
  t.equal(chooseRendition({ ...input, lowEstimateBps: 1e6 }), 2, '1.25 x 1 Mbit/s carries 1200k')
  t.equal(chooseRendition({ ...input, lowEstimateBps: 3e6 }), 5, 'a dip, not a drop: the buffer rides it')
})

t.test('no rung whose download at the low estimate would outlast the buffer', async (t) => {
  // 4 Mbit/s by the mean, 2.1 Mbit/s at worst: 1850k takes 3.5 s, 1200k 2.3 s
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: 4e6, lowEstimateBps: 2.1e6, bufferSeconds: 6, current: 3, segmentSeconds: SEG }), 3)
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: 4e6, lowEstimateBps: 2.1e6, bufferSeconds: 3, current: 3, segmentSeconds: SEG }), 2)
})

t.test('near the end of the video the buffer is spent', async (t) => {
  const input = { ladderBps: LADDER, estimateBps: 2e6, bufferSeconds: 30, current: 3, heldSegments: 5, segmentSeconds: SEG }
  t.equal(chooseRendition(input), 3, '1.25 x 2 Mbit/s: 1850k')
  t.equal(chooseRendition({ ...input, remainingSeconds: 120 }), 3)
  t.equal(chooseRendition({ ...input, remainingSeconds: 20 }), 4, '20 s left: 1.5 x 2 Mbit/s, 2850k')
})

/**
 * A closed loop independent of the simulator: a player fetching back to back (waiting above its
 * buffer cap) segments of exactly rung x 4 s, the estimator fed exact samples, the buffer known.
 */
function play (rateAt: (segment: number) => number, segments: number, cap: number) {
  let estimator = newEstimator()
  let buffer = 0
  let current: number | null = null
  let held = 0
  const served: number[] = []
  const stalls: number[] = []
  for (let i = 0; i < segments; i++) {
    const rung = chooseRendition({ ladderBps: LADDER, estimateBps: estimateBps(estimator), lowEstimateBps: lowEstimateBps(estimator), bufferSeconds: i === 0 ? null : buffer, current, heldSegments: held, segmentSeconds: SEG })
    held = rung === current ? held + 1 : 1
    const bytes = (LADDER[rung]! * SEG) / 8
    const download = (bytes * 8) / rateAt(i)
    stalls.push(i === 0 ? 0 : Math.max(0, download - buffer))
    buffer = Math.min(cap, Math.max(0, buffer - download) + SEG)
    estimator = addSample(estimator, { bytes, durationMs: download * 1000, atMs: 0, source: 'gap' })
    served.push(rung)
    current = rung
  }
  return { served, stalls }
}
const switches = (rungs: number[]) => rungs.filter((r, i) => i > 0 && r !== rungs[i - 1]).length

t.test('a constant rate, a player holding under 20 s: settles on the highest rung below the rate', async (t) => {
  for (const [rate, expected] of [[1e6, 1], [4e6, 4], [16e6, 5], [2.2e6, 3]] as const) {
    const { served } = play(() => rate, 40, 16)
    t.same(served.slice(15), Array(25).fill(expected), `${rate / 1e6} Mbit/s: ${served.join('')}`)
  }
})

t.test('a constant rate, a deep buffer: time-shares the two rungs around the rate, never stalls', async (t) => {
  const { served, stalls } = play(() => 4e6, 80, 60)
  const tail = served.slice(20)
  t.ok(tail.every((r) => r === 4 || r === 5), served.join(''))
  t.ok(tail.includes(5), 'spends the buffer on the rung above')
  t.ok(switches(tail) <= tail.length / 6, `${switches(tail)} switches in ${tail.length} segments`)
  t.equal(Math.max(...stalls.slice(1)), 0)
})

t.test('alternating noise around a rate does not flap the rendition', async (t) => {
  // +-25% every other segment around 3.5 Mbit/s, and around 1.6 Mbit/s
  for (const mean of [3.5e6, 1.6e6]) {
    const { served } = play((i) => (i % 2 === 0 ? mean * 1.25 : mean * 0.75), 60, 16)
    const tail = served.slice(20)
    t.equal(switches(tail), 0, `${mean / 1e6} Mbit/s: ${tail.join('')}`)
    // with a deep buffer it may time-share the two rungs around the rate, in runs of 3 segments or more
    const deep = play((i) => (i % 2 === 0 ? mean * 1.25 : mean * 0.75), 80, 60).served.slice(20)
    const runs = deep.join('').match(/(.)\1*/g)!.slice(1, -1).map((run) => run.length)
    t.ok(runs.every((n) => n >= 3), `${mean / 1e6} Mbit/s, deep buffer: ${deep.join('')}`)
    t.ok(new Set(deep).size <= 2)
  }
})

t.test('a drop from 16 to 1 Mbit/s: a lower rung within two segments, no stall longer than a segment', async (t) => {
  const drop = 30
  const { served, stalls } = play((i) => (i < drop ? 16e6 : 1e6), 60, 60)
  t.equal(served[drop - 1], 5, 'at the top before the drop')
  t.ok(served[drop + 1]! < 5, `served after the drop: ${served.slice(drop).join('')}`)
  t.ok(served.slice(drop + 10).every((r) => r <= 2), 'settles around the rate (750k or 1200k)')
  t.ok(Math.max(...stalls) < SEG, `longest stall ${Math.max(...stalls)} s`)
})
