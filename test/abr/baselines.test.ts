import t from 'tap'
import type { Download, PlayerView } from '../../src/abr/abr-policy.js'
import { bola } from '../../src/abr/baselines/bola.js'
import { bufferBased } from '../../src/abr/baselines/buffer-based.js'
import { hlsjsEwma } from '../../src/abr/baselines/hlsjs-ewma.js'
import { rateBased } from '../../src/abr/baselines/rate-based.js'
import { robustMpc } from '../../src/abr/baselines/robust-mpc.js'
import { fixedLowest } from '../../src/abr/baselines/fixed-lowest.js'
import { videoSegments } from '../../src/abr/video-segments.js'

const video = videoSegments(48)
const download = (index: number, bps: number, bytes = 1_000_000): Download => ({
  index, rung: 0, bytes, requestS: index * 10, startS: index * 10, endS: index * 10 + (bytes * 8) / bps, bufferS: 0, receivedBy: () => 0
})
const view = (over: Partial<PlayerView>): PlayerView => ({
  index: 10, nowS: 100, bufferS: 10, previous: 0, downloads: [], video, segmentCount: 48, latencyS: 0.08, bufferCapS: 60, ...over
})

t.test('fixed lowest', async (t) => {
  t.equal(fixedLowest.create().choose(view({ bufferS: 50 })), 0)
})

t.test('BBA-0: lowest in the reservoir, top past the cushion, the rate map between, by hand', async (t) => {
  const p = bufferBased(5, 10).create()
  t.equal(p.choose(view({ bufferS: 4.9, previous: 3 })), 0)
  t.equal(p.choose(view({ bufferS: 15, previous: 0 })), 5)
  // 10 s: f = 300 + 0.5 x 4000 = 2300 kbit/s, above the next rung up: the highest rung under f, 1850k
  t.equal(p.choose(view({ bufferS: 10, previous: 0 })), 3)
  // from 2850k, f = 2300 is not at or below 1850k: keep
  t.equal(p.choose(view({ bufferS: 10, previous: 4 })), 4)
  // 6 s: f = 700, at or below 750k: the lowest rung above f, 750k
  t.equal(p.choose(view({ bufferS: 6, previous: 3 })), 1)
})

t.test('rate-based: the highest rung under the harmonic mean of the last 5', async (t) => {
  const downloads = [download(0, 10e6), ...[4e6, 1e6, 2e6, 2e6, 4e6].map((bps, i) => download(i + 1, bps))]
  // 5 / (1/4 + 1 + 1/2 + 1/2 + 1/4) = 2 Mbit/s
  t.equal(rateBased.create().choose(view({ downloads })), 3)
  t.equal(rateBased.create().choose(view({ downloads: [] })), 0)
})

t.test('hls.js: 500 kbit/s before any sample; a step up needs 0.7 of the estimate', async (t) => {
  t.equal(hlsjsEwma.create().choose(view({ index: 0, previous: null, bufferS: 0 })), 0)
  const steady = Array.from({ length: 10 }, (_, i) => download(i, 2.5e6))
  // 0.7 x 2.5 = 1.75 Mbit/s: from 750k, up to 1200k only; from 1850k, 0.95 x 2.5 keeps it
  t.equal(hlsjsEwma.create().choose(view({ downloads: steady, previous: 1 })), 2)
  t.equal(hlsjsEwma.create().choose(view({ downloads: steady, previous: 3 })), 3)
})

t.test('BOLA: the lowest up to 10 s, the top at the 22 s target, capped by throughput on a step up', async (t) => {
  const fast = Array.from({ length: 3 }, (_, i) => download(i, 50e6))
  t.equal(bola.create().choose(view({ bufferS: 9, previous: 0, downloads: fast })), 0)
  t.equal(bola.create().choose(view({ bufferS: 22.5, previous: 0, downloads: fast })), 5)
  const slow = Array.from({ length: 3 }, (_, i) => download(i, 1.5e6))
  t.equal(bola.create().choose(view({ bufferS: 22.5, previous: 0, downloads: slow })), 2, '0.9 x 1.5 Mbit/s carries 1200k')
})

t.test('robustMPC: the 750k rung first; with a fast steady link and a buffer, the top', async (t) => {
  t.equal(robustMpc.create().choose(view({ index: 0, previous: null, bufferS: 0 })), 1)
  const steady = Array.from({ length: 6 }, (_, i) => download(i, 20e6))
  t.equal(robustMpc.create().choose(view({ downloads: steady, previous: 5, bufferS: 20 })), 5)
  const slow = Array.from({ length: 6 }, (_, i) => download(i, 0.5e6))
  t.equal(robustMpc.create().choose(view({ downloads: slow, previous: 5, bufferS: 2 })), 0)
})
