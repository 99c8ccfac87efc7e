import t from 'tap'
import { addSample, addSamples, estimateBps, lowEstimateBps, newEstimator, type EstimatorState } from '../../src/abr/bandwidth-estimator.js'
import type { ThroughputSample } from '../../src/abr/throughput-sample.js'

/** A sample of `bytes` received at `bps`. */
const at = (bps: number, bytes = 1_000_000, atMs = 0): ThroughputSample => ({ bytes, durationMs: (bytes * 8 * 1000) / bps, atMs, source: 'gap' })
const feed = (s: EstimatorState, rates: number[], bytes?: number) => rates.reduce((st, r) => addSample(st, at(r, bytes)), s)

t.test('nothing known: null; a prior is the estimate until samples come', async (t) => {
  t.equal(estimateBps(newEstimator()), null)
  t.equal(estimateBps(newEstimator(null)), null)
  t.equal(estimateBps(newEstimator(2_000_000)), 2_000_000)
  t.equal(estimateBps(newEstimator(Number.NaN)), null)
  t.equal(lowEstimateBps(newEstimator(2_000_000)), 2_000_000)
  t.equal(lowEstimateBps(newEstimator()), null)
})

t.test('a constant rate is estimated within 1% after a few samples', async (t) => {
  for (const bps of [300_000, 1_000_000, 4_000_000, 16_000_000]) {
    const s = feed(newEstimator(), [bps, bps, bps])
    t.ok(Math.abs(estimateBps(s)! / bps - 1) < 0.01, `${bps}: ${estimateBps(s)}`)
    t.ok(Math.abs(lowEstimateBps(s)! / bps - 1) < 0.01, `${bps}: ${lowEstimateBps(s)}`)
  }
})

t.test('a wrong prior gives way to the first real samples', async (t) => {
  // 1 Mbit/s samples of 250 kB take 2 s each; the prior claims 10 Mbit/s
  const s = feed(newEstimator(10_000_000), [1e6, 1e6, 1e6, 1e6, 1e6], 250_000)
  t.ok(Math.abs(estimateBps(s)! / 1e6 - 1) < 0.1, String(estimateBps(s)))
})

t.test('an isolated high sample barely moves the estimate; a confirmed rise is followed', async (t) => {
  const steady = feed(newEstimator(), [4e6, 4e6, 4e6, 4e6, 4e6, 4e6])
  const spiked = addSample(steady, at(400e6)) // a 'finish' overstated by a large send buffer
  // clamped to 3x its neighbour it lifts the harmonic mean of 5 by 15% (unclamped: 24%)
  t.ok(estimateBps(spiked)! < 4e6 * 1.2, String(estimateBps(spiked)))
  t.ok(lowEstimateBps(spiked)! < 4e6 * 1.1, String(lowEstimateBps(spiked)))
  const risen = feed(spiked, [16e6, 16e6, 16e6, 16e6, 16e6, 16e6, 16e6, 16e6], 2_000_000)
  t.ok(estimateBps(risen)! > 15e6, String(estimateBps(risen)))
  t.ok(lowEstimateBps(risen)! > 12e6, String(lowEstimateBps(risen)))
})

t.test('the estimate is the harmonic mean of the last five samples', async (t) => {
  const s = feed(newEstimator(), [9e6, 9e6, 1e6, 2e6, 4e6, 4e6, 8e6])
  t.ok(Math.abs(estimateBps(s)! - 5 / (1 / 1e6 + 1 / 2e6 + 1 / 4e6 + 1 / 4e6 + 1 / 8e6)) < 1)
})

t.test('a drop shows in the low estimate with the first slow sample', async (t) => {
  const fast = feed(newEstimator(), Array(8).fill(16e6), 2_150_000)
  t.ok(Math.abs(lowEstimateBps(fast)! / 16e6 - 1) < 0.01)
  const dropped = addSample(fast, at(1e6, 2_150_000))
  t.ok(lowEstimateBps(dropped)! < 1.5e6, String(lowEstimateBps(dropped)))
  t.ok(estimateBps(dropped)! > 3e6, 'the mean moves by one fifth of the harmonic weight')
})

t.test('the low estimate weights samples by their duration', async (t) => {
  // 1 s at 8 Mbit/s then 4 s at 2 Mbit/s: the long one dominates
  const s = addSample(addSample(newEstimator(), at(8e6, 1_000_000)), at(2e6, 1_000_000))
  t.ok(lowEstimateBps(s)! < 3e6, String(lowEstimateBps(s)))
})

t.test('addSample returns a new state, leaves its input alone, and ignores unusable samples', async (t) => {
  const s = feed(newEstimator(), [3e6, 5e6])
  const copy = JSON.stringify(s)
  const next = addSample(s, at(1e6))
  t.equal(JSON.stringify(s), copy)
  t.not(estimateBps(next), estimateBps(s))
  t.equal(addSample(s, { bytes: 0, durationMs: 10, atMs: 0, source: 'gap' }), s)
  t.equal(addSample(s, { bytes: 10, durationMs: 0, atMs: 0, source: 'gap' }), s)
})

t.test('addSamples keeps the newest ten usable samples of the old and the new, in order, whatever the batch size', async (t) => {
  // The expectation, written another way: every usable sample as [bits/s, seconds], old then new, the last ten.
  const usable = (xs: ThroughputSample[]): Array<[number, number]> => xs
    .filter((x) => x.bytes > 0 && x.durationMs > 0)
    .map((x) => [(x.bytes * 8 * 1000) / Math.max(1, x.durationMs), x.durationMs / 1000])
  const bad: ThroughputSample = { bytes: 0, durationMs: 10, atMs: 0, source: 'gap' }
  const zero: ThroughputSample = { bytes: 10, durationMs: 0, atMs: 0, source: 'gap' }
  const old = [at(2e6), at(3e6), at(4e6)]
  const start = addSamples(newEstimator(7e5), old)
  for (const n of [0, 1, 3, 7, 9, 10, 11, 25, 1000]) {
    const batch = Array.from({ length: n }, (_, i) => (i % 4 === 3 ? (i % 8 === 3 ? bad : zero) : at(1e6 + 1e4 * i, 500_000 + i)))
    const got = addSamples(start, batch)
    t.same(got.samples, usable([...old, ...batch]).slice(-10), `a batch of ${n}`)
    t.equal(got.initialBps, 7e5)
    t.equal(got, batch.some((x) => x !== bad && x !== zero) ? got : start, 'nothing usable: the same state')
  }
  t.equal(start.samples.length, 3, 'the input is left alone')
})

t.test('the state survives JSON (it is kept in Redis) and stays bounded', async (t) => {
  const s = feed(newEstimator(1e6), Array.from({ length: 500 }, (_, i) => 1e6 + (i % 7) * 1e5))
  const back = JSON.parse(JSON.stringify(s)) as EstimatorState
  t.equal(estimateBps(back), estimateBps(s))
  t.ok(JSON.stringify(s).length < 1000)
})
