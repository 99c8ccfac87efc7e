import t from 'tap'
import { bufferValue, planAhead, type PlanInput } from '../../src/abr/plan-ahead.js'
import { chooseRendition } from '../../src/abr/choose-rendition.js'

const SEG = 4
const flat = () => 1

t.test('buffer value: the integral of (rate / segment length) / spend factor', async (t) => {
  // factor 1 everywhere: a second of buffer is worth rate/segment of a segment's bitrate
  t.equal(bufferValue(0, 2, SEG, flat), 0)
  t.ok(Math.abs(bufferValue(10, 2, SEG, flat) - 5) < 1e-9)
  // 0.5 up to 20 s, 1.5 above: 20 s cost double, the rest two thirds
  const steps = (x: number) => (x < 20 ? 0.5 : 1.5)
  t.ok(Math.abs(bufferValue(35, 2, SEG, steps) - (2 / SEG) * (20 / 0.5 + 15 / 1.5)) < 1e-9)
  // a sloped factor 1 + x/10 from 0 to 10 s: (rate/L) x 10 ln 2
  const slope = (x: number) => 1 + x / 10
  t.ok(Math.abs(bufferValue(10, 4, SEG, slope) - 10 * Math.log(2)) < 1e-3)
})

// Two rungs, 1 and 2 Mbit/s; the plan assumes 1.5 Mbit/s. With a spend factor of 1, a segment of the
// upper rung at its nominal size costs (8 - 4) Mbit / 1.5 Mbit/s = 2.67 s of buffer more than the
// lower one, worth 2.67 x 1.5 / 4 = 1 Mbit/s of QoE: exactly its bitrate gain, so the switch costs
// tip it to staying. At half its size it costs half that and gains the same: a run of such segments
// pays for going up (5 x 0.5 gained, 1 for the switch).
const base: PlanInput = {
  ratesBps: [1e6, 2e6],
  upcomingBits: Array.from({ length: 5 }, () => [4e6, 8e6]),
  planBps: 1.5e6,
  lowBps: 1.5e6,
  bufferSeconds: 8,
  current: 0,
  segmentSeconds: SEG,
  spendFactor: flat
}

t.test('a run of cheap segments ahead pays for a step up; at their nominal size it does not', async (t) => {
  t.equal(planAhead(base), 0)
  t.equal(planAhead({ ...base, upcomingBits: Array.from({ length: 5 }, () => [4e6, 4e6]) }), 1)
  // one cheap segment followed by dear ones does not pay for the switches up and back
  t.equal(planAhead({ ...base, upcomingBits: [[4e6, 4e6], ...Array.from({ length: 4 }, () => [4e6, 9e6])] }), 0)
})

t.test('a costly segment ahead is met with the lower rung', async (t) => {
  // at the upper rung, 3x its size is 24 Mbit: 11 s at 2.2 Mbit/s against 6 s of buffer
  const input = { ...base, planBps: 2.2e6, lowBps: 2.2e6, bufferSeconds: 6, current: 1, upcomingBits: [[12e6, 24e6], ...Array.from({ length: 4 }, () => [4e6, 8e6])] }
  t.equal(planAhead(input), 0)
  t.equal(planAhead({ ...input, upcomingBits: Array.from({ length: 5 }, () => [4e6, 8e6]) }), 1, 'and kept when the segments are as usual')
})

t.test('the first segment is never a rung whose download at the low figure outlasts the buffer', async (t) => {
  // the plan's rate would carry the upper rung easily; at 0.5 Mbit/s its 4 Mbit take 8 s against 3 s
  const cheap = Array.from({ length: 5 }, () => [2e6, 4e6])
  t.equal(planAhead({ ...base, upcomingBits: cheap, planBps: 20e6, lowBps: 20e6, bufferSeconds: 3 }), 1)
  t.equal(planAhead({ ...base, upcomingBits: cheap, planBps: 20e6, lowBps: 0.5e6, bufferSeconds: 3 }), 0)
})

t.test('a step up only onto a segment the rule\'s schedule carries at its real size; staying up is the plan\'s call', async (t) => {
  // The rule's schedule: 0.5 of the rate when empty, 1 at 20 s, up to 1.5. At a steady 3.8 Mbit/s
  // with 30 s of buffer (factor 1.25: 4.8 Mbit/s), a 6 Mbit/s rung would drain 1.2 s a segment,
  // which the buffer's price alone (1 / 1.25 of what it buys) would pay for.
  const spendFactor = (b: number) => Math.min(1.5, Math.max(0.5, 1 + (b - 20) / 40))
  const cbr = { ratesBps: [0.4e6, 1.5e6, 6e6], upcomingBits: Array.from({ length: 5 }, () => [0.8e6, 3e6, 12e6]), planBps: 3.8e6, lowBps: 3.8e6, bufferSeconds: 30, current: 1, segmentSeconds: 2, spendFactor }
  t.equal(planAhead(cbr), 1, 'the highest rung below the rate is kept')
  t.equal(planAhead({ ...cbr, current: 0 }), 1, 'and stepped up to')
  t.equal(planAhead({ ...cbr, planBps: 10e6, lowBps: 10e6 }), 2, 'the top once the rate carries it')
  t.equal(planAhead({ ...cbr, upcomingBits: Array.from({ length: 5 }, () => [0.8e6, 3e6, 9e6]) }), 2, 'or onto segments cheap enough')
  t.equal(planAhead({ ...cbr, current: 2 }), 2, 'already above the rate with a deep buffer: stays while the buffer pays')
  t.equal(planAhead({ ...cbr, current: 2, bufferSeconds: 12 }), 1, 'and steps down once it does not')
})

t.test('a plan that reaches the end of the video spends the buffer: what is left is never played', async (t) => {
  // two segments left, 20 s of buffer at 2.2 Mbit/s: the upper rung's 8 Mbit cost 3.6 s each, no stall
  const end = { ...base, bufferSeconds: 20, upcomingBits: [[4e6, 8e6], [4e6, 8e6]] }
  t.equal(planAhead({ ...end, planBps: 2.2e6, lowBps: 2.2e6 }), 0, 'the buffer is worth keeping when the video goes on')
  t.equal(planAhead({ ...end, planBps: 2.2e6, lowBps: 2.2e6, remainingSeconds: 2 * SEG }), 1, 'not when these are its last segments')
  t.equal(planAhead({ ...end, planBps: 2.2e6, lowBps: 2.2e6, remainingSeconds: 3 * SEG }), 0, 'a third segment after them: kept')
})

t.test('the horizon: only that many segments are planned', async (t) => {
  // a cheap run after the first segment (itself cheap enough to step up on) is seen with a horizon of 5, not of 1
  const rows = [[4e6, 5.6e6], ...Array.from({ length: 5 }, () => [4e6, 4e6])]
  t.equal(planAhead({ ...base, upcomingBits: rows }), 1)
  t.equal(planAhead({ ...base, upcomingBits: rows, horizon: 1 }), 0)
})

t.test('degenerate inputs: one rung, no rows, no rate keep the current rung', async (t) => {
  t.equal(planAhead({ ...base, ratesBps: [1e6], upcomingBits: [[4e6]] }), 0)
  t.equal(planAhead({ ...base, current: 1, upcomingBits: [] }), 1)
  t.equal(planAhead({ ...base, current: 1, planBps: 0 }), 1)
})

t.test('chooseRendition plans ahead when the sizes are given, follows its rule when not', async (t) => {
  const LADDER = [300_000, 750_000, 1_200_000, 1_850_000, 2_850_000, 4_300_000]
  const nominal = LADDER.map((b) => b * SEG)
  const input = { ladderBps: LADDER, estimateBps: 1.3e6, bufferSeconds: 20, current: 2, heldSegments: 5, segmentSeconds: SEG }
  t.equal(chooseRendition(input), 2, 'the rule: 1.3 Mbit/s carries 1200k')
  t.equal(chooseRendition({ ...input, upcomingBits: Array(5).fill(nominal) }), 2, 'nominal sizes: the same')
  t.ok(chooseRendition({ ...input, upcomingBits: Array(5).fill(nominal.map((b) => b * 0.6)) }) > 2, 'segments at 60%: above 1200k (1850k costs 1.1 Mbit/s)')
  t.ok(chooseRendition({ ...input, upcomingBits: Array(5).fill(nominal.map((b) => b * 1.6)) }) < 2, 'segments at 160%: below 1200k (which costs 1.9 Mbit/s)')
  t.equal(chooseRendition({ ...input, current: null, upcomingBits: Array(5).fill(nominal) }), 2, 'the first segment is chosen by the rule')
})

t.test('the lookahead reckons stalls at the newest sample under the low estimate, and at a fall in progress continued', async (t) => {
  const LADDER = [300_000, 750_000, 1_200_000, 1_850_000, 2_850_000, 4_300_000]
  const rows = Array(5).fill(LADDER.map((b) => b * SEG))
  const input = { ladderBps: LADDER, estimateBps: 1.2e6, lowEstimateBps: 800e3, heldSegments: 10, segmentSeconds: SEG, upcomingBits: rows }
  // 10 s of buffer on 1200k (4.8 Mbit a segment); neither sample is under half the estimate
  const at10 = { ...input, bufferSeconds: 10, current: 2 }
  t.equal(chooseRendition({ ...at10, lastSampleBps: 700e3, previousSampleBps: 700e3 }), 2, 'a steady 700k: 4.8 Mbit at the low 800k fits in the buffer')
  t.equal(chooseRendition({ ...at10, lastSampleBps: 700e3, previousSampleBps: 1000e3 }), 2, 'falling by 0.7: 490k next carries it in 9.8 s, still within the buffer')
  t.equal(chooseRendition({ ...at10, lastSampleBps: 700e3, previousSampleBps: 1400e3 }), 1, 'halving: 350k next would stall 3.7 s, so 750k')
  // 20 s of buffer on 1850k: the plan stays at the low 800k, and steps down when the newest sample says 600k
  const at20 = { ...input, bufferSeconds: 20, current: 3 }
  t.equal(chooseRendition({ ...at20, lastSampleBps: 800e3, previousSampleBps: 800e3 }), 3)
  t.equal(chooseRendition({ ...at20, lastSampleBps: 600e3, previousSampleBps: 600e3 }), 2)
})

t.test('a closed loop at a constant rate over segments whose sizes vary in runs: higher rungs on cheap runs, no stall', async (t) => {
  const LADDER = [300_000, 750_000, 1_200_000, 1_850_000, 2_850_000, 4_300_000]
  // runs of 6 segments alternately at 70% and 130% of the nominal size
  const scale = (i: number) => (Math.floor(i / 6) % 2 === 0 ? 0.7 : 1.3)
  const bits = (i: number) => LADDER.map((b) => b * SEG * scale(i))
  const rate = 2e6
  let buffer = 0
  let current: number | null = null
  const served: number[] = []
  let stalled = 0
  for (let i = 0; i < 48; i++) {
    const upcomingBits = Array.from({ length: Math.min(5, 48 - i) }, (_, k) => bits(i + k))
    const rung = chooseRendition({ ladderBps: LADDER, estimateBps: i === 0 ? null : rate, bufferSeconds: i === 0 ? null : buffer, current, segmentSeconds: SEG, remainingSeconds: (48 - i) * SEG, upcomingBits })
    const download = bits(i)[rung]! / rate
    if (i > 0) stalled += Math.max(0, download - buffer)
    buffer = Math.min(60, Math.max(0, buffer - download) + SEG)
    served.push(rung)
    current = rung
  }
  const mean = (pick: (i: number) => boolean) => {
    const xs = served.filter((_, i) => i >= 6 && pick(i))
    return xs.reduce((a, b) => a + b, 0) / xs.length
  }
  t.equal(stalled, 0, served.join(''))
  t.ok(mean((i) => scale(i) < 1) > mean((i) => scale(i) > 1), `cheap runs higher: ${served.join('')}`)
})
