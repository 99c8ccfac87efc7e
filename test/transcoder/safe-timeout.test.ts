import t from 'tap'
import { setSafeTimeout, MAX_TIMER_MS } from '../../src/safe-timeout.js'

/** Timers the test fires by hand: what was asked for, in order, and a way to let the next one pass. */
function manualTimers () {
  const pending: Array<{ fn: () => void, ms: number, cleared: boolean }> = []
  const asked: number[] = []
  return {
    asked,
    timers: {
      set: (fn: () => void, ms: number) => {
        const entry = { fn, ms, cleared: false }
        pending.push(entry)
        asked.push(ms)
        return entry
      },
      clear: (entry: { cleared: boolean }) => { entry.cleared = true }
    },
    /** Lets the oldest live timer expire; false when none is left. */
    fireNext (): boolean {
      const next = pending.shift()
      if (next === undefined) return false
      if (!next.cleared) next.fn()
      return true
    }
  }
}

t.test('a delay above the largest timer is waited out as a chain, and runs only at its end', async (t) => {
  const m = manualTimers()
  let fired = 0
  setSafeTimeout(() => { fired++ }, 25, { maxMs: 10, timers: m.timers })
  t.same(m.asked, [10], 'no timer longer than the maximum')
  m.fireNext()
  m.fireNext()
  t.equal(fired, 0, 'not after 20 of 25 ms')
  t.same(m.asked, [10, 10, 5], 'the last link is the remainder')
  m.fireNext()
  t.equal(fired, 1, 'after all 25')
  t.notOk(m.fireNext(), 'nothing left scheduled')
})

t.test('2^31 ms and more: Node\'s own maximum is the link, and the total is kept', async (t) => {
  const m = manualTimers()
  let fired = 0
  const ms = 2 ** 31 + 5000
  setSafeTimeout(() => { fired++ }, ms, { timers: m.timers })
  t.equal(m.asked[0], 2 ** 31 - 1)
  m.fireNext()
  t.equal(fired, 0)
  m.fireNext()
  t.equal(fired, 1)
  t.equal(m.asked.reduce((a, b) => a + b, 0), ms)
})

t.test('clearing mid-chain stops it', async (t) => {
  const m = manualTimers()
  let fired = 0
  const timer = setSafeTimeout(() => { fired++ }, 30, { maxMs: 10, timers: m.timers })
  m.fireNext()
  timer.clear()
  while (m.fireNext());
  t.equal(fired, 0)
})

t.test('a short delay is one plain timer', async (t) => {
  const m = manualTimers()
  let fired = 0
  setSafeTimeout(() => { fired++ }, 0, { timers: m.timers })
  setSafeTimeout(() => { fired++ }, 1234, { timers: m.timers })
  t.same(m.asked, [0, 1234])
  while (m.fireNext());
  t.equal(fired, 2)
})

t.test('bad delays are refused, not turned into 1 ms', async (t) => {
  t.throws(() => setSafeTimeout(() => {}, -1), RangeError)
  t.throws(() => setSafeTimeout(() => {}, Number.NaN), RangeError)
})

t.test('with Node\'s real timers, a 2^31 ms delay neither fires soon nor warns', async (t) => {
  const warnings: string[] = []
  const onWarning = (w: Error) => { warnings.push(w.name) }
  process.on('warning', onWarning)
  let fired = false
  const timer = setSafeTimeout(() => { fired = true }, MAX_TIMER_MS + 1, { ref: true })
  // A plain setTimeout of this length fires after 1 ms; give it ample time to misbehave.
  await new Promise((resolve) => setTimeout(resolve, 200))
  timer.clear()
  process.off('warning', onWarning)
  t.equal(fired, false)
  t.notOk(warnings.includes('TimeoutOverflowWarning'), 'no TimeoutOverflowWarning')
})
