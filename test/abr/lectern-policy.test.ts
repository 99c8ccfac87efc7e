import t from 'tap'
import type { PolicyFactory } from '../../src/abr/abr-policy.js'
import { bola } from '../../src/abr/baselines/bola.js'
import { bufferBased } from '../../src/abr/baselines/buffer-based.js'
import { hlsjsEwma } from '../../src/abr/baselines/hlsjs-ewma.js'
import { rateBased } from '../../src/abr/baselines/rate-based.js'
import { robustMpc } from '../../src/abr/baselines/robust-mpc.js'
import { lecternExact, lecternServerObserved } from '../../src/abr/lectern-policy.js'
import { parseTrace } from '../../src/abr/network-trace.js'
import { simulateSession } from '../../src/abr/simulate-session.js'
import { videoSegments } from '../../src/abr/video-segments.js'

const video = videoSegments(48)
const observed: PolicyFactory[] = []
for (const segmentSizes of [false, true]) for (const mtp of [false, true]) for (const kib of [64, 256, 1024, 4096]) observed.push(lecternServerObserved({ sendBufferBytes: kib * 1024, mtp, segmentSizes }))

t.test('on a constant link every observation model settles around the rate and never stalls after startup', async (t) => {
  for (const [mbit, rungs] of [[1, [1, 2]], [4, [4, 5]], [16, [5]]] as const) {
    const trace = parseTrace(`0 ${mbit}\n1 ${mbit}`)
    for (const p of [lecternExact, ...observed]) {
      const r = simulateSession(trace, video, p.create())
      const tail = r.rungs.slice(20)
      if (p.name.endsWith(', sizes')) {
        // Knowing the sizes, it runs above the rate on cheap segments and below it on costly ones:
        // what it serves averages near the rate (the link's payload), and the top rung when it is far above.
        const mean = tail.reduce((sum, x) => sum + video.ladderKbps[x]!, 0) / tail.length / 1000
        if (mbit === 16) t.ok(tail.every((x) => x === 5), `${mbit} Mbit/s, ${p.name}: ${r.rungs.join('')}`)
        else t.ok(mean > 0.75 * 0.95 * mbit && mean < 1.25 * 0.95 * mbit, `${mbit} Mbit/s, ${p.name}: ${r.rungs.join('')}, mean ${mean.toFixed(2)} Mbit/s`)
      } else {
        t.ok(tail.every((x) => (rungs as readonly number[]).includes(x)), `${mbit} Mbit/s, ${p.name}: ${r.rungs.join('')}`)
      }
      t.equal(r.rebufferCount, 0, `${mbit} Mbit/s, ${p.name}: no stall`)
    }
  }
})

t.test('no policy sees the future: two traces equal up to 60 s give the same choices up to then', async (t) => {
  const early = '0 2\n7 0.8\n19 3\n33 1.2\n45 2.5\n'
  const a = parseTrace(early + '60 0.3\n120 0.3')
  const b = parseTrace(early + '60 20\n120 20')
  for (const p of [lecternExact, ...observed, bola, robustMpc, rateBased, hlsjsEwma, bufferBased()]) {
    const times: number[] = []
    const policy = p.create()
    const ra = simulateSession(a, video, { choose: (v) => { times.push(v.nowS); return policy.choose(v) } })
    const rb = simulateSession(b, video, p.create())
    const before = times.filter((time) => time < 60).length
    t.ok(before >= 5)
    t.same(rb.rungs.slice(0, before), ra.rungs.slice(0, before), p.name)
    t.not(rb.rungs.join(''), ra.rungs.join(''), `${p.name}: and differ after`)
  }
})

t.test('knowing the sizes of a constant-bitrate ladder (as test/net/adaptive-bottleneck.test.ts plays it): settles below the rate, and after a drop near the end of the video too', async (t) => {
  // 400k/1.5M/6M with MPEG-TS overhead, 2 s segments, a 60 s video, a player holding 30 s
  const ladderKbps = [400, 1500, 6000]
  const cbr = { ladderKbps, segmentSeconds: 2, bytes: Array.from({ length: 30 }, (_, i) => ladderKbps.map((k) => Math.round(k * 250 * 1.07 * (1 + 0.02 * Math.sin(i))))) }
  const options = { bufferCapS: 30, latencyS: 0.04 }
  const letters = (rungs: number[]) => rungs.map((r) => 'LMH'[r]).join('')
  for (const p of observed.filter((o) => o.name.endsWith(', sizes'))) {
    for (const [mbit, rung] of [[1, 0], [4, 1], [16, 2]] as const) {
      const r = simulateSession(parseTrace(`0 ${mbit}\n1 ${mbit}`), cbr, p.create(), options)
      t.same(r.rungs.slice(15, 20), Array(5).fill(rung), `${mbit} Mbit/s, ${p.name}: ${letters(r.rungs)}`)
    }
    // the link falls from 16 to 1 Mbit/s while segment 15 downloads; segments 23-25 are what the real test checks
    let at = 0
    const probe = p.create()
    simulateSession(parseTrace('0 16\n1 16'), cbr, { choose: (v) => { if (v.index === 15) at = v.nowS; return probe.choose(v) } }, options)
    const r = simulateSession(parseTrace(`0 16\n${at + 0.1} 1\n500 1`), cbr, p.create(), options)
    t.same(r.rungs.slice(23, 26), [0, 0, 0], `16 then 1 Mbit/s, ${p.name}: ${letters(r.rungs)}`)
    t.ok(Math.max(...r.stallS.slice(1)) < 2, `no stall as long as a segment: ${Math.max(...r.stallS.slice(1)).toFixed(1)} s`)
  }
})
