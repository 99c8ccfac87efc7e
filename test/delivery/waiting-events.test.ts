import t from 'tap'
import { WaitingEvents } from '../../src/delivery/waiting-events.js'
import type { SessionEvent } from '../../src/abr/session-state.js'

t.test('events come out in the order they went in, gap events as the objects they stand for, however many', async (t) => {
  const waiting = new WaitingEvents()
  for (const count of [1, 7, 200, 3]) {
    // The expectation: the same events as plain objects in a plain array.
    const expected: SessionEvent[] = []
    for (let i = 0; i < count; i++) {
      if (i % 5 === 2) {
        const e: SessionEvent = { kind: 'rtt', gapMs: i + 0.5 }
        expected.push(e)
        waiting.push(e)
      } else if (i % 7 === 3) {
        const e: SessionEvent = { kind: 'segment', arrivalMs: 1000 + i, segmentSeconds: 4, reportedBufferMs: undefined }
        expected.push(e)
        waiting.push(e)
      } else {
        const seconds = i % 3 === 0 ? undefined : 2 + i / 10
        expected.push({ kind: 'gap', bytes: 65536 + i, arrivalMs: 1e12 + i * 3.25, finishMs: 1e12 + i * 3.25 + 0.125, acceptedBytes: 65536 + i - (i % 2) * 1000, mtpKbps: undefined, segmentSeconds: seconds, nextArrivalMs: 1e12 + i * 3.25 + 40.0625 })
        waiting.pushGap(65536 + i, 1e12 + i * 3.25, 1e12 + i * 3.25 + 0.125, 65536 + i - (i % 2) * 1000, seconds, 1e12 + i * 3.25 + 40.0625)
      }
    }
    t.equal(waiting.length, count, `${count} waiting`)
    t.strictSame(waiting.take(), expected, `${count}: the same events, in order`)
    t.equal(waiting.length, 0, 'none waiting once taken')
    t.strictSame(waiting.take(), [], 'and a second take has none')
  }
})
