import t from 'tap'
import { chooseRendition, safeStartIndex } from '../../src/abr/choose-rendition.js'
import { addSample, estimateBps, newEstimator } from '../../src/abr/bandwidth-estimator.js'

const LADDER = [300_000, 750_000, 1_200_000, 1_850_000, 2_850_000, 4_300_000]
const SEG = 4

t.test('safe start: the highest rung under 1.5 Mbit/s with nothing known', async (t) => {
  t.equal(safeStartIndex(LADDER, null), 2)
  t.equal(safeStartIndex([2e6, 5e6], null), 0, 'the lowest when none is under')
  t.equal(safeStartIndex([400_000, 1_400_000, 1_600_000], null), 1)
  t.equal(safeStartIndex(LADDER, 20e6), 5, 'a known fast network starts at the top')
  t.equal(safeStartIndex(LADDER, 1e6), 1)
})

t.test('nothing known: keep the current rung, or the safe start', async (t) => {
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: null, bufferSeconds: null, current: null, segmentSeconds: SEG }), 2)
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: null, bufferSeconds: 10, current: 4, segmentSeconds: SEG }), 4)
})

t.test('a one-rung ladder has only index 0', async (t) => {
  t.equal(chooseRendition({ ladderBps: [1e6], estimateBps: 1, bufferSeconds: 0, current: 0, segmentSeconds: SEG }), 0)
})

t.test('an estimate below the rung: step down at once, several rungs if needed', async (t) => {
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: 1e6, bufferSeconds: 10, current: 5, segmentSeconds: SEG }), 1)
  // an empty buffer: every rung above the rate stalls; the lowest stalls least
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: 1e6, bufferSeconds: 0, current: 5, segmentSeconds: SEG }), 0)
})

t.test('a step up goes one rung at a time', async (t) => {
  t.equal(chooseRendition({ ladderBps: LADDER, estimateBps: 50e6, bufferSeconds: 30, current: 1, segmentSeconds: SEG }), 2)
})

t.test('sizes come from AVERAGE-BANDWIDTH when given', async (t) => {
  // peak 2x the average: 2.4 Mbit/s carries the 1850k rung's average but not its peak
  const peak = LADDER.map((b) => b * 2)
  const input = { estimateBps: 2.4e6, bufferSeconds: 4, current: 1, segmentSeconds: SEG }
  t.ok(chooseRendition({ ...input, ladderBps: peak, averageBps: LADDER, current: 2 }) >= 2)
  t.ok(chooseRendition({ ...input, ladderBps: peak, current: 2 }) < 2)
})

/**
 * A closed loop independent of the simulator: a player fetching back to back (paced at a 60 s
 * buffer) segments of exactly rung x 4 s, the estimator fed exact samples, the buffer known.
 */
function play (rateAt: (segment: number) => number, segments: number) {
  let estimator = newEstimator()
  let buffer = 0
  let current: number | null = null
  const served: number[] = []
  const stalls: number[] = []
  for (let i = 0; i < segments; i++) {
    const rung = chooseRendition({ ladderBps: LADDER, estimateBps: estimateBps(estimator), bufferSeconds: buffer, current, segmentSeconds: SEG })
    const bytes = (LADDER[rung]! * SEG) / 8
    const download = (bytes * 8) / rateAt(i)
    stalls.push(i === 0 ? 0 : Math.max(0, download - buffer))
    buffer = Math.max(0, buffer - download) + SEG
    buffer = Math.min(buffer, 60)
    estimator = addSample(estimator, { bytes, durationMs: download * 1000, atMs: 0, source: 'gap' })
    served.push(rung)
    current = rung
  }
  return { served, stalls }
}

t.test('a constant rate settles on the highest rung below it and stays', async (t) => {
  for (const [rate, expected] of [[1e6, 1], [4e6, 4], [16e6, 5], [2.2e6, 3]] as const) {
    const { served } = play(() => rate, 40)
    t.same(served.slice(20), Array(20).fill(expected), `${rate / 1e6} Mbit/s`)
  }
})

t.test('alternating noise around a rate does not flap the rendition', async (t) => {
  // +-25% every other segment around 3.5 Mbit/s, and around 1.6 Mbit/s
  for (const mean of [3.5e6, 1.6e6]) {
    const { served } = play((i) => (i % 2 === 0 ? mean * 1.25 : mean * 0.75), 60)
    const tail = served.slice(20)
    const switches = tail.filter((r, i) => i > 0 && r !== tail[i - 1]).length
    t.equal(switches, 0, `${mean / 1e6} Mbit/s: ${tail.join('')}`)
  }
})

t.test('a drop from 16 to 1 Mbit/s: a lower rung within two segments, no stall longer than a segment', async (t) => {
  const drop = 30
  const { served, stalls } = play((i) => (i < drop ? 16e6 : 1e6), 50)
  t.equal(served[drop - 1], 5, 'at the top before the drop')
  t.ok(served[drop + 1]! < 5, `served after the drop: ${served.slice(drop).join('')}`)
  t.ok(served.slice(drop + 6).every((r) => r <= 1), 'settles at or below the 750k rung')
  t.ok(Math.max(...stalls) < SEG, `longest stall ${Math.max(...stalls)} s`)
})
