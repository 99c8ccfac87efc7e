import t from 'tap'
import { bitsBy, parseTrace, PAYLOAD_SHARE, timeOfBits, transferSeconds } from '../../src/abr/network-trace.js'

t.test('parses time/Mbit/s pairs, shifted to start at zero; the last rate holds for the median step', async (t) => {
  const trace = parseTrace('180.0\t1.0\n185.0 2.0\n\n190.0   4.0\n', 'x')
  t.same([...trace.startsS], [0, 5, 10])
  t.same([...trace.bitsPerS], [1e6 * PAYLOAD_SHARE, 2e6 * PAYLOAD_SHARE, 4e6 * PAYLOAD_SHARE])
  t.equal(trace.periodS, 15)
  t.equal(trace.cumBits[3], (5 + 10 + 20) * 1e6 * PAYLOAD_SHARE)
})

t.test('malformed traces are refused', async (t) => {
  t.throws(() => parseTrace('', 'e'), /empty/)
  t.throws(() => parseTrace('0 1\n0 2', 'e'), /increase/)
  t.throws(() => parseTrace('0 one', 'e'), /bad trace line/)
  t.throws(() => parseTrace('0 -1', 'e'), /bad trace line/)
})

t.test('transfer times across pieces and across the loop, by hand', async (t) => {
  // 1, 3, 1 Mbit/s for a second each (payload 0.95 of it), then again
  const trace = parseTrace('0 1\n1 3\n2 1')
  const mbit = 1e6 * PAYLOAD_SHARE
  t.equal(bitsBy(trace, 1.5), 2.5 * mbit)
  t.equal(bitsBy(trace, 4.5), 5 * mbit + 2.5 * mbit)
  // from 0.5 s: 0.5 Mbit in the first piece, 3 in the second, the rest at 1
  t.ok(Math.abs(transferSeconds(trace, 0.5, (4 * mbit) / 8) - 2) < 1e-9)
  // from 2.5 s: 0.5 Mbit to the loop, then 1 Mbit in its first second, then 3 Mbit/s
  t.ok(Math.abs(transferSeconds(trace, 2.5, (3 * mbit) / 8) - (0.5 + 1 + 0.5)) < 1e-9)
  t.equal(timeOfBits(trace, 0), 0)
  t.equal(transferSeconds(trace, 1, 0), 0)
})

t.test('an outage is waited out', async (t) => {
  const trace = parseTrace('0 0\n2 1\n3 1')
  t.ok(Math.abs(transferSeconds(trace, 0, (0.5e6 * PAYLOAD_SHARE) / 8) - 2.5) < 1e-9)
  t.equal(transferSeconds(parseTrace('0 0\n1 0'), 0, 1000), Number.POSITIVE_INFINITY)
})
