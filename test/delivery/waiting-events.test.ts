import t from 'tap'
import { WaitingEvents } from '../../src/delivery/waiting-events.js'
import { applySessionEvents, newSession, type GapEvent, type SessionEvent } from '../../src/abr/session-state.js'
import { newEstimator } from '../../src/abr/bandwidth-estimator.js'

/** The runs of gap events expanded into the objects they stand for, read by the layout GapRun documents (bytes, arrival, finish, accepted, seconds or NaN, next arrival). */
function expand (events: SessionEvent[]): SessionEvent[] {
  const out: SessionEvent[] = []
  for (const e of events) {
    if (e.kind !== 'gaps') {
      out.push(e)
      continue
    }
    for (let i = 0; i < e.count; i++) {
      const [bytes, arrivalMs, finishMs, acceptedBytes, seconds, nextArrivalMs] = Array.from(e.fields.subarray(6 * i, 6 * i + 6))
      out.push({ kind: 'gap', bytes: bytes!, arrivalMs: arrivalMs!, finishMs: finishMs!, acceptedBytes: acceptedBytes!, mtpKbps: undefined, segmentSeconds: Number.isNaN(seconds) ? undefined : seconds, nextArrivalMs: nextArrivalMs! })
    }
  }
  return out
}

function gapEvent (i: number): GapEvent {
  const seconds = i % 3 === 0 ? undefined : 2 + i / 10
  return { kind: 'gap', bytes: 65536 + i, arrivalMs: 1e12 + i * 3.25, finishMs: 1e12 + i * 3.25 + 0.125, acceptedBytes: 65536 + i - (i % 2) * 1000, mtpKbps: undefined, segmentSeconds: seconds, nextArrivalMs: 1e12 + i * 3.25 + 40.0625 + (i % 4) * 900 }
}

function fill (waiting: WaitingEvents, count: number, offset = 0): SessionEvent[] {
  // The expectation: the same events as plain objects in a plain array.
  const expected: SessionEvent[] = []
  for (let j = 0; j < count; j++) {
    const i = j + offset
    if (i % 5 === 2 || i % 17 === 16) {
      const e: SessionEvent = { kind: 'rtt', gapMs: i + 0.5 }
      expected.push(e)
      waiting.push(e)
    } else if (i % 7 === 3) {
      const e: SessionEvent = { kind: 'segment', arrivalMs: 1000 + i, segmentSeconds: 4, reportedBufferMs: undefined }
      expected.push(e)
      waiting.push(e)
    } else {
      const e = gapEvent(i)
      expected.push(e)
      waiting.pushGap(e.bytes, e.arrivalMs, e.finishMs, e.acceptedBytes, e.segmentSeconds, e.nextArrivalMs)
    }
  }
  return expected
}

t.test('events come out in the order they went in, runs of gap events as the numbers of the objects they stand for, however many', async (t) => {
  const waiting = new WaitingEvents()
  for (const count of [1, 7, 200, 3, 1000]) {
    const expected = fill(waiting, count)
    t.equal(waiting.length, count, `${count} waiting`)
    const taken = waiting.take()
    t.strictSame(expand(taken), expected, `${count}: the same events, in order`)
    t.notOk(taken.some((e, i) => i > 0 && e.kind === 'gaps' && taken[i - 1]!.kind === 'gaps'), 'consecutive gap events make one run')
    t.equal(waiting.length, 0, 'none waiting once taken')
    t.strictSame(waiting.take(), [], 'and a second take has none')
  }
})

t.test('a batch taken keeps its numbers while further events wait (an update may apply it later)', async (t) => {
  const waiting = new WaitingEvents()
  const first = fill(waiting, 300)
  const taken = waiting.take()
  const second = fill(waiting, 300, 1)
  t.strictSame(expand(taken), first, 'the first batch is as it was taken')
  t.strictSame(expand(waiting.take()), second, 'the second is its own')
})

t.test('applied to a session, a taken batch gives what the same events as objects give', async (t) => {
  const waiting = new WaitingEvents()
  for (const count of [1, 9, 40, 2000]) {
    const expected = fill(waiting, count, count)
    const start = newSession(newEstimator(2_000_000), '10.1.2')
    t.strictSame(applySessionEvents(start, waiting.take()), applySessionEvents(start, expected), `${count} events`)
  }
})
