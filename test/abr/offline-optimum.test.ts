import t from 'tap'
import { readFileSync } from 'node:fs'
import { parseTrace } from '../../src/abr/network-trace.js'
import { offlineOptimum } from '../../src/abr/offline-optimum.js'
import { simulateSession } from '../../src/abr/simulate-session.js'
import { videoSegments } from '../../src/abr/video-segments.js'
import { flatVideo, sequence } from './helpers.js'
import { lecternExact, lecternServerObserved } from '../../src/abr/lectern-policy.js'
import { bola } from '../../src/abr/baselines/bola.js'
import { robustMpc } from '../../src/abr/baselines/robust-mpc.js'
import { rateBased } from '../../src/abr/baselines/rate-based.js'

// A copy of five traces from ../shared/abr-traces (a clean clone has no ../shared beside it).
const TRACES = new URL('./traces/', import.meta.url)
const real = (path: string) => parseTrace(readFileSync(new URL(path, TRACES), 'utf8'), path)

interface Options { startS: number, bufferCapS: number, segmentCount: number }

/** The best QoE over every rung sequence, each played by the simulator. */
function bruteForce (trace: ReturnType<typeof parseTrace>, video: ReturnType<typeof videoSegments>, options: Options): number {
  const R = video.ladderKbps.length
  const count = options.segmentCount
  let best = Number.NEGATIVE_INFINITY
  for (let code = 0; code < R ** count; code++) {
    const rungs = Array.from({ length: count }, (_, i) => Math.floor(code / R ** i) % R)
    best = Math.max(best, simulateSession(trace, video, sequence(rungs), options).qoe)
  }
  return best
}

t.test('a fast constant link, by hand: the top rung throughout, one startup wait', async (t) => {
  // 100 Mbit/s (95 payload): the 2,375,000-byte top segment takes 0.2 s
  const video = flatVideo([1000, 3000, 4750], [500_000, 1_500_000, 2_375_000], 10)
  const r = offlineOptimum(parseTrace('0 100\n1 100'), video)
  t.same(r.rungs, Array(10).fill(2))
  t.ok(Math.abs(r.qoe - (10 * 4.75 - 4.3 * 0.28)) < 1e-9, String(r.qoe))
})

t.test('a slow constant link, by hand: the lowest rung is all it carries', async (t) => {
  // 1 Mbit/s (0.95 payload) against rungs of 2 and 3 Mbit/s, and 0.5 Mbit/s: anything above the lowest stalls for ever more
  const video = flatVideo([500, 2000, 3000], [250_000, 1_000_000, 1_500_000], 12)
  const r = offlineOptimum(parseTrace('0 1\n1 1'), video)
  t.same(r.rungs.slice(0, 9), Array(9).fill(0))
})

t.test('the program finds what brute force over every sequence finds (real traces, 6 segments, 4 rungs)', async (t) => {
  const video = videoSegments(6, [300, 1200, 2850, 4300], 4, 3)
  const cases: Array<[string, Options]> = [
    ['hsdpa-3g/norway_bus_1', { startS: 0, bufferCapS: 60, segmentCount: 6 }],
    ['hsdpa-3g/norway_tram_10', { startS: 37, bufferCapS: 60, segmentCount: 6 }],
    ['hsdpa-3g/norway_tram_10', { startS: 100, bufferCapS: 7, segmentCount: 6 }],
    ['fcc/trace_797466_http---www.amazon_part1.log', { startS: 12, bufferCapS: 9, segmentCount: 6 }]
  ]
  for (const [path, options] of cases) {
    const trace = real(path)
    const best = bruteForce(trace, video, options)
    const dp = offlineOptimum(trace, video, options)
    const what = `${path} from ${options.startS} s, cap ${options.bufferCapS} s`
    t.ok(dp.qoe <= best + 1e-9, `${what}: never above the best plan (${dp.qoe} vs ${best})`)
    t.ok(dp.qoe >= best - 0.01, `${what}: within 0.01 of it`)
    const replay = simulateSession(trace, video, sequence(dp.rungs), options)
    t.ok(Math.abs(replay.qoe - dp.qoe) < 1e-9, `${what}: the simulator plays its plan to the same QoE`)
  }
})

t.test('no online policy beats it (48 segments, several traces)', async (t) => {
  const video = videoSegments(48)
  const policies = [lecternExact, lecternServerObserved({ sendBufferBytes: 1 << 20, mtp: false }), bola, robustMpc, rateBased]
  for (const path of ['hsdpa-3g/norway_bus_1', 'hsdpa-3g/norway_metro_2', 'fcc/trace_797466_http---www.amazon_part1.log', 'fcc/trace_939592_http---www.facebook_part1.log']) {
    const trace = real(path)
    const opt = offlineOptimum(trace, video)
    for (const p of policies) {
      const q = simulateSession(trace, video, p.create()).qoe
      t.ok(q <= opt.qoe + 1e-9, `${path}, ${p.name}: ${q.toFixed(2)} <= ${opt.qoe.toFixed(2)}`)
    }
  }
})
