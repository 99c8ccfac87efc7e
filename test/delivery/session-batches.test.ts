import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { SessionStore } from '../../src/abr/session-store.js'
import type { AbrSession } from '../../src/abr/session-state.js'
import { SessionTracker, type SessionValue } from '../../src/delivery/session-tracker.js'
import { captureLogger } from '../helpers/capture-logger.js'

// A session's events wait and are applied in batches: when the timer fires, or at once when
// `maxWaiting` are waiting. Here the timer never fires within the test, so every update seen is
// one the count caused: a batch must not be taken per request once the count was reached.

const SID = 'batchedSession000000001'
const MAX_WAITING = 100

t.test('events are applied when maxWaiting are waiting, then wait again for the next batch', async (t) => {
  const { log } = captureLogger()
  const store = new SessionStore<SessionValue>()
  const tracker = new SessionTracker(store, log, { flushMs: 600_000, maxWaiting: MAX_WAITING })
  const body = Buffer.alloc(64 * 1024, 7)
  // Answers as the fast path does: the arrival read from the URL, then the delivery recorded.
  const server = http.createServer((req, res) => {
    const url = req.url!
    const q = url.indexOf('?sid=')
    const c = tracker.arrivedNamed(req, url, q < 0 ? -1 : q + 5)
    res.writeHead(200, ['content-type', 'video/mp2t', 'content-length', String(body.length)])
    res.end(body)
    if (c !== null && c !== undefined) tracker.deliveredOn(c, res, body.length, 4)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(async () => {
    agent.destroy()
    await new Promise((resolve) => server.close(resolve))
    await tracker.close()
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hls/v/r/segment-00000.ts?sid=${SID}`
  // One player on one connection, back to back: every request after the first completes a gap event.
  const fetch = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => {
        http.get(url, { agent }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject)
      })
    }
  }
  const state = (): AbrSession | undefined => store.peek('s:' + SID) as AbrSession | undefined

  await fetch(MAX_WAITING)
  t.equal(state(), undefined, `${MAX_WAITING - 1} events wait: the session is not written yet`)
  await fetch(1)
  const first = state()
  t.ok(first !== undefined && first.estimator.samples.length > 0, `the ${MAX_WAITING}th event applies the batch: ${first?.estimator.samples.length ?? 0} samples`)
  await fetch(MAX_WAITING / 2)
  t.equal(state(), first, `${MAX_WAITING / 2} more wait for the next batch: the session is as the first batch left it`)
  await fetch(MAX_WAITING / 2)
  const second = state()
  t.not(second, first, 'the next batch is applied once as many are waiting again')
  await fetch(3)
  t.equal(state(), second, 'and the events after it wait again')
  await tracker.settled()
  t.not(state(), second, 'until they are asked for')
})
