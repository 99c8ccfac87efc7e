import t from 'tap'
import { SessionStore } from '../../src/abr/session-store.js'
import type { EdgeLogLine } from '../../src/abr/edge-log-line.js'
import type { AbrSession } from '../../src/abr/session-state.js'
import { SessionTracker, type SessionValue } from '../../src/delivery/session-tracker.js'
import { captureLogger } from '../helpers/capture-logger.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'

// Behind nginx every node gets every log line of a session and the first to claim a line records
// its sample: two nodes update one session at the same time. Neither may lose the other's samples.

t.test('two nodes recording one session\'s samples at once: every sample is kept', async (t) => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const { log } = captureLogger()
  const stores = [0, 1].map(() => new SessionStore<SessionValue>({ redis: { url: redis.url, timeoutMs: 1000, log } }))
  const nodes = stores.map((s) => new SessionTracker(s, log, { edgeLog: true }))
  t.teardown(async () => {
    for (const n of nodes) await n.close()
    for (const s of stores) await s.close()
  })
  t.same(await Promise.all(stores.map(async (s) => await s.probe())), ['ok', 'ok'], 'both nodes reach Redis')
  const sid = 'twoNodesSession00000001'
  // One client connection fetching 9 segments of 250,000 bytes, each request 1 s after the one
  // before: 8 pairs, so 8 samples of 2 Mbit/s (250,000 bytes x 8 bits over 1 s).
  const lines: EdgeLogLine[] = Array.from({ length: 9 }, (_v, i) => ({
    requestId: i.toString(16).padStart(32, '0'),
    arrivalMs: 1_000_000 + 1000 * i,
    finishMs: 1_000_000 + 1000 * i + 5,
    bytes: 250_000,
    status: 200,
    connection: '7',
    connectionRequests: i + 1,
    rttMs: null,
    cacheStatus: 'HIT',
    sid
  }))
  // Both nodes are handed every line at once, as nginx's syslog does, each node first for every
  // other line: each claims about half of them, and both update the session at the same time.
  await Promise.all(lines.flatMap((line, i) => (i % 2 === 0 ? nodes : [...nodes].reverse()).map(async (n) => { await n.edgeLine(line) })))
  for (const n of nodes) await n.settled()
  const reader = new SessionStore<SessionValue>({ redis: { url: redis.url, timeoutMs: 1000, log } })
  t.teardown(async () => { await reader.close() })
  t.equal(await reader.probe(), 'ok')
  const session = await reader.get('s:' + sid) as AbrSession | undefined
  const samples = session?.estimator.samples ?? []
  t.equal(samples.length, 8, `a sample for each of the 8 pairs of requests (${samples.length})`)
  t.ok(samples.every(([bps]) => Math.abs(bps - 2_000_000) < 1), 'each of 2 Mbit/s')
})
