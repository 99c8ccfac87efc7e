import t from 'tap'
import { sampleFromDelivery, sampleFromGap, type SegmentDelivery } from '../../src/abr/sample-from-delivery.js'
import { sampleBps } from '../../src/abr/throughput-sample.js'

const KiB = 1024
const MiB = 1024 * KiB

t.test('a body the kernel took whole says nothing at finish', async (t) => {
  t.equal(sampleFromDelivery({ bytes: 64 * KiB, arrivalMs: 0, finishMs: 1, acceptedBytes: 64 * KiB }), null)
  t.equal(sampleFromDelivery({ bytes: 4 * MiB, arrivalMs: 0, finishMs: 2, acceptedBytes: 4 * MiB }), null)
})

t.test('finish after pushback: only the bytes that left before finish count', async (t) => {
  // 1 MiB with 64 KiB queued when finish fires: 960 KiB left in 2 s.
  const s = sampleFromDelivery({ bytes: MiB, arrivalMs: 1000, finishMs: 3000, acceptedBytes: 64 * KiB })
  t.ok(s)
  t.equal(s!.source, 'finish')
  t.equal(s!.bytes, 960 * KiB)
  t.equal(s!.durationMs, 2000)
  t.equal(sampleBps(s!), (960 * KiB * 8) / 2)
})

t.test('finish after pushback on a body under four times what was accepted: no sample', async (t) => {
  t.equal(sampleFromDelivery({ bytes: MiB, arrivalMs: 0, finishMs: 500, acceptedBytes: 512 * KiB }), null)
  t.equal(sampleFromDelivery({ bytes: 3 * 256 * KiB, arrivalMs: 0, finishMs: 500, acceptedBytes: 256 * KiB }), null)
  t.ok(sampleFromDelivery({ bytes: 4 * 256 * KiB, arrivalMs: 0, finishMs: 500, acceptedBytes: 256 * KiB }))
})

t.test("the player's mtp is preferred over the server's own measure", async (t) => {
  const s = sampleFromDelivery({ bytes: MiB, arrivalMs: 1000, finishMs: 3000, acceptedBytes: 64 * KiB, mtpKbps: 2500 })
  t.equal(s!.source, 'mtp')
  t.equal(Math.round(sampleBps(s!)), 2_500_000)
  t.equal(s!.atMs, 1000, 'taken at arrival: it describes earlier downloads')
  const small = sampleFromDelivery({ bytes: 64 * KiB, arrivalMs: 0, finishMs: 1, acceptedBytes: 64 * KiB, mtpKbps: 800 })
  t.equal(Math.round(sampleBps(small!)), 800_000)
})

t.test('an unusable mtp is ignored, never an error', async (t) => {
  for (const mtpKbps of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.equal(sampleFromDelivery({ bytes: 64 * KiB, arrivalMs: 0, finishMs: 1, acceptedBytes: 64 * KiB, mtpKbps }), null, String(mtpKbps))
  }
})

const prev: SegmentDelivery = { bytes: 1_000_000, arrivalMs: 10_000, finishMs: 10_001, acceptedBytes: 1_000_000, segmentSeconds: 4 }

t.test('gap to the next request, minus the RTT, is the transfer time of a back-to-back player', async (t) => {
  const s = sampleFromGap(prev, 12_080, 80)
  t.equal(s!.source, 'gap')
  t.equal(s!.durationMs, 2000)
  t.equal(sampleBps(s!), 4_000_000)
  t.equal(s!.atMs, 12_080)
})

t.test('a gap that may hold a paced wait (about one segment duration) is no sample', async (t) => {
  t.equal(sampleFromGap(prev, 10_000 + 4000, 80), null)
  t.equal(sampleFromGap(prev, 10_000 + 3300, 80), null)
  t.equal(sampleFromGap(prev, 10_000 + 4450, 80), null)
  // longer than any paced wait: the player fetched as soon as it could, the link is slow
  const slow = sampleFromGap(prev, 10_000 + 6080, 80)
  t.equal(sampleBps(slow!), 8_000_000 / 6)
  // without the segment duration nothing tells a wait apart
  t.ok(sampleFromGap({ ...prev, segmentSeconds: undefined }, 14_000, 80))
})

t.test('a gap no longer than the RTT is no sample; finish bounds the transfer time from below', async (t) => {
  t.equal(sampleFromGap(prev, 10_050, 80), null)
  const pushed = { ...prev, finishMs: 11_500, acceptedBytes: 64 * KiB }
  t.equal(sampleFromGap(pushed, 11_200, 0)!.durationMs, 1500)
})
