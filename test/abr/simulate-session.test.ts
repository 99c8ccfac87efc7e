import t from 'tap'
import { parseTrace } from '../../src/abr/network-trace.js'
import { scoreSession, simulateSession } from '../../src/abr/simulate-session.js'
import { flatVideo, sequence } from './helpers.js'

// 10 Mbit/s, of which 9.5 payload: a 950,000-byte segment takes 0.8 s, a 2,375,000-byte one 2 s.
const trace = parseTrace('0 10\n100 10')
const video = flatVideo([1000, 3000], [950_000, 2_375_000], 3)

t.test('a constant link, by hand: startup counted as stall, then a buffer that grows', async (t) => {
  const r = simulateSession(trace, video, sequence([0, 1, 1]))
  t.same(r.rungs, [0, 1, 1])
  t.ok(Math.abs(r.stallS[0]! - 0.88) < 1e-9, 'the first segment: 0.8 s and the 80 ms latency')
  t.same(r.stallS.slice(1), [0, 0])
  // 1 - 4.3 x 0.88, then 3 - |3 - 1|, then 3
  t.ok(Math.abs(r.qoe - (1 - 4.3 * 0.88 + 1 + 3)) < 1e-9, String(r.qoe))
  t.equal(r.switches, 1)
  t.equal(r.rebufferCount, 0)
  t.equal(r.playS, 12)
})

t.test('the player waits above its buffer cap; requests are made at the times that follow', async (t) => {
  const times: number[] = []
  const buffers: number[] = []
  simulateSession(trace, video, { choose: (v) => { times.push(v.nowS); buffers.push(v.bufferS); return 1 } }, { bufferCapS: 5 })
  // 2.08 s each; after the second the buffer would be 4 - 2.08 + 4 = 5.92: wait 0.92 s
  t.ok(Math.abs(times[1]! - 2.08) < 1e-9)
  t.ok(Math.abs(times[2]! - (4.16 + 0.92)) < 1e-9, String(times[2]))
  t.ok(Math.abs(buffers[2]! - 5) < 1e-9)
})

t.test('a stall when the link fades below what the buffer covers, by hand', async (t) => {
  // 10 Mbit/s for 3 s, then 1 (0.95 payload): a 7.6 Mbit segment then takes 8 s
  const fading = parseTrace('0 10\n3 1\n1000 1')
  const r = simulateSession(fading, flatVideo([1000], [950_000], 4), sequence([0, 0, 0, 0]), { bufferCapS: 4 })
  // seg 0: 0.88 s of startup; seg 1 from 0.88 to 1.76, then a wait to 4.88 (the buffer back at 4 s);
  // seg 2 from 4.88: 0.08 + 8 s against 4 s of buffer; seg 3 the same
  const expected = [0.88, 0, 4.08, 4.08]
  r.stallS.forEach((s, i) => t.ok(Math.abs(s - expected[i]!) < 1e-9, `segment ${i}: ${s}`))
  t.equal(r.rebufferCount, 2)
})

t.test('scoreSession: the linear QoE of given rungs and stalls', async (t) => {
  const r = scoreSession([300, 750, 1200], [0, 2, 2, 1], [1, 0, 0.5, 0], 4)
  t.ok(Math.abs(r.qoe - (0.3 - 4.3 + 1.2 - 0.9 + 1.2 - 4.3 * 0.5 + 0.75 - 0.45)) < 1e-9)
  t.equal(r.switches, 2)
  t.equal(r.rebufferCount, 1, 'startup is not a rebuffer')
  t.equal(r.bitrateSumKbps, 3450)
})
