import t from 'tap'
import { applySessionEvents, newSession, type GapEvent, type SessionEvent } from '../../src/abr/session-state.js'
import { newEstimator } from '../../src/abr/bandwidth-estimator.js'
import type { SegmentDelivery } from '../../src/abr/sample-from-delivery.js'
import { GAP_FIELDS, setGap, type GapRun } from '../../src/abr/gap-run.js'

const delivery = (arrivalMs: number, bytes: number, finishMs = arrivalMs + 1): SegmentDelivery =>
  ({ bytes, arrivalMs, finishMs, acceptedBytes: bytes, segmentSeconds: 4 })

t.test('no events: the same session, unchanged', async (t) => {
  const s = newSession()
  t.equal(applySessionEvents(s, []), s)
})

t.test('back-to-back segments: the rate is bytes over the gap less the round trip (worked by hand)', async (t) => {
  // A 1,000,000-byte segment requested at t=0, the next request at t=2,050 ms; the round trip is
  // bounded by a 50 ms gap after a playlist: 8e6 bits in 2.0 s = 4 Mbit/s.
  const events: SessionEvent[] = [
    { kind: 'rtt', gapMs: 80 },
    { kind: 'rtt', gapMs: 50 },
    { kind: 'segment', arrivalMs: 0, segmentSeconds: 4, reportedBufferMs: undefined },
    { kind: 'gap', ...delivery(0, 1_000_000), nextArrivalMs: 2050 }
  ]
  const s = applySessionEvents(newSession(), events)
  t.equal(s.rttMs, 50)
  t.equal(s.estimator.samples.length, 1)
  t.ok(Math.abs(s.estimate! - 4_000_000) < 1, String(s.estimate))
})

t.test('the round trip subtracted is the one known when the gap came, and at most a quarter of the gap', async (t) => {
  const gap: SessionEvent = { kind: 'gap', ...delivery(0, 250_000), nextArrivalMs: 1000 }
  // rtt learnt after the gap: nothing subtracted, 2e6 bits in 1 s
  const after = applySessionEvents(newSession(), [gap, { kind: 'rtt', gapMs: 200 }])
  t.ok(Math.abs(after.estimate! - 2_000_000) < 1, String(after.estimate))
  // rtt 200 ms known before: 2e6 bits in 0.8 s
  const before = applySessionEvents(newSession(), [{ kind: 'rtt', gapMs: 200 }, gap])
  t.ok(Math.abs(before.estimate! - 2_500_000) < 1, String(before.estimate))
  // an rtt of 600 ms is capped at a quarter of the 1 s gap: 2e6 bits in 0.75 s
  const capped = applySessionEvents(newSession(), [{ kind: 'rtt', gapMs: 600 }, gap])
  t.ok(Math.abs(capped.estimate! - 2_000_000 / 0.75) < 1, String(capped.estimate))
})

t.test('a batch gives what one event at a time gives', async (t) => {
  const events: SessionEvent[] = []
  let at = 0
  // More samples than the estimator keeps, several times over, so a batch holds only some of them.
  for (let i = 0; i < 120; i++) {
    const bytes = 200_000 + 37_000 * (i % 7)
    const ms = 300 + 113 * (i % 5)
    events.push({ kind: 'segment', arrivalMs: at, segmentSeconds: 4, reportedBufferMs: i % 4 === 0 ? 9000 : undefined })
    if (i % 3 === 0) events.push({ kind: 'sample', sample: { bytes, durationMs: ms, atMs: at + ms, source: 'finish' } })
    else events.push({ kind: 'gap', ...delivery(at, bytes), nextArrivalMs: at + ms })
    if (i === 10) events.push({ kind: 'rtt', gapMs: 40 })
    // A report that reads the estimator in the middle of the batch sees every sample before it.
    if (i === 20) events.push({ kind: 'reported', arrivalMs: at, mtpKbps: 2500, bytesFor: (s) => 100_000 * s.estimator.samples.length })
    if (i === 25 || i % 13 === 0) events.push({ kind: 'sample', sample: { bytes: 0, durationMs: 100, atMs: at, source: 'finish' } })
    at += ms
  }
  // Every prefix as one batch, against the same events one at a time: a batch may end anywhere.
  const start = newSession(newEstimator(1_000_000), '10.0.0')
  let oneByOne = start
  let differ = 0
  for (let k = 1; k <= events.length; k++) {
    oneByOne = applySessionEvents(oneByOne, [events[k - 1]!])
    const batched = applySessionEvents(start, events.slice(0, k))
    if (JSON.stringify(batched) !== JSON.stringify(oneByOne)) differ++
  }
  t.equal(differ, 0, `all ${events.length} prefixes agree`)
  const batched = applySessionEvents(start, events)
  t.same(batched, oneByOne)
  t.equal(batched.estimator.samples.length, 10, 'the estimator keeps its window')
  t.equal(batched.network, '10.0.0')
})

t.test('a reported mtp is weighted by the bytes the session is about to get', async (t) => {
  const s0 = { ...newSession(), current: 2 }
  const s = applySessionEvents(s0, [{ kind: 'reported', arrivalMs: 5, mtpKbps: 3000, bytesFor: (s) => (s.current === 2 ? 750_000 : 1) }])
  t.equal(s.estimator.samples.length, 1)
  t.same(s.estimator.samples[0], [3_000_000, 2], '750 kB at 3 Mbit/s take 2 s')
  t.equal(s.estimate, 3_000_000)
  t.equal(s.current, 2, 'the rest of the session is kept')
})

t.test('the buffer follows the segments: the reported level replaces the inferred one', async (t) => {
  const s = applySessionEvents(newSession(), [
    { kind: 'segment', arrivalMs: 0, segmentSeconds: 4, reportedBufferMs: undefined },
    { kind: 'segment', arrivalMs: 1000, segmentSeconds: 4, reportedBufferMs: undefined },
    { kind: 'segment', arrivalMs: 1500, segmentSeconds: 4, reportedBufferMs: 12_000 }
  ])
  t.equal(s.buffer.seconds, 12)
  t.equal(s.buffer.atMs, 1500)
  t.equal(s.buffer.pendingSeconds, 4)
  const inferred = applySessionEvents(newSession(), [
    { kind: 'segment', arrivalMs: 0, segmentSeconds: 4, reportedBufferMs: undefined },
    { kind: 'segment', arrivalMs: 1000, segmentSeconds: 4, reportedBufferMs: undefined }
  ])
  t.equal(inferred.buffer.seconds, 4, 'the first segment arrived by the second request')
  t.equal(inferred.estimate, null, 'no sample: nothing estimated')
})

t.test('a run of gap events as numbers gives what the same events one at a time give', async (t) => {
  // Runs longer than the estimator's window, ending in gaps that give no sample (a paced player's
  // waits, gaps shorter than the round trip), between round trips that change what is subtracted.
  const objects: SessionEvent[] = []
  const runs: SessionEvent[] = []
  let at = 0
  let usable = 0
  for (const [length, pacedTail] of [[3, 0], [25, 0], [40, 15], [2, 2], [600, 9]] as const) {
    const gaps: GapEvent[] = []
    for (let i = 0; i < length; i++) {
      const bytes = 150_000 + 29_000 * (i % 6)
      // A paced wait is about one segment duration (4 s); a back-to-back fetch takes what it takes.
      const ms = i >= length - pacedTail ? (i % 2 === 0 ? 4000 : 20) : 250 + 97 * (i % 7)
      if (i < length - pacedTail) usable++
      gaps.push({ kind: 'gap', ...delivery(at, bytes), nextArrivalMs: at + ms })
      at += ms
    }
    const fields = new Float64Array(gaps.length * GAP_FIELDS)
    gaps.forEach((g, i) => { setGap(fields, i, g.bytes, g.arrivalMs, g.finishMs, g.acceptedBytes, g.segmentSeconds, g.nextArrivalMs) })
    const run: GapRun = { kind: 'gaps', fields, count: gaps.length }
    objects.push(...gaps)
    runs.push(run)
    const rtt: SessionEvent = { kind: 'rtt', gapMs: 30 + length }
    objects.push(rtt)
    runs.push(rtt)
  }
  t.ok(usable > 100, 'many of the gaps are samples')
  const start = newSession(newEstimator(3_000_000), '10.0.1')
  let oneByOne = start
  for (const e of objects) oneByOne = applySessionEvents(oneByOne, [e])
  t.strictSame(applySessionEvents(start, runs), oneByOne, 'the runs as one batch')
  t.strictSame(applySessionEvents(start, objects), oneByOne, 'the objects as one batch')
  // Each run with what came before it, as batches end anywhere.
  let batched = start
  for (let i = 0; i < runs.length; i++) batched = applySessionEvents(batched, [runs[i]!])
  t.strictSame(batched, oneByOne, 'one run at a time')
})
