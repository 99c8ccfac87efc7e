import t from 'tap'
import { edgeDelivery, parseEdgeLogLine } from '../../src/abr/edge-log-line.js'
import { sampleFromGap } from '../../src/abr/sample-from-delivery.js'

const id = (n: number): string => n.toString(16).padStart(32, '0')
// As nginx sends it over syslog with nohostname: <priority>timestamp tag: message
const line = (n: number, msec: string, took: string, bytes: number, requests: number, sid = 'sessionAAAAAAAA', cache = 'HIT'): string =>
  `<190>Dec  2 13:50:00 nginx: lectern-edge 1 ${id(n)} ${msec} ${took} ${bytes} 200 77 ${requests} 40512 ${cache} ${sid}`

t.test('a syslog datagram from nginx', async (t) => {
  t.same(parseEdgeLogLine(line(1, '1764683400.250', '0.500', 1_000_000, 3)), {
    requestId: id(1), finishMs: 1764683400250, arrivalMs: 1764683399750, bytes: 1_000_000, status: 200,
    connection: '77', connectionRequests: 3, rttMs: 40.512, cacheStatus: 'HIT', sid: 'sessionAAAAAAAA'
  })
  const noCache = parseEdgeLogLine(line(2, '1764683400.250', '0.000', 10, 1, 'sessionAAAAAAAA', '-'))
  t.equal(noCache?.cacheStatus, null, "nginx's - for an empty variable")
  t.equal(parseEdgeLogLine('<190>Dec  2 13:50:00 nginx: GET / HTTP/1.1 200'), null, 'another log line')
  t.equal(parseEdgeLogLine(line(1, '1764683400.250', '0.500', 1, 3, '-')), null, 'a request without a session')
  t.equal(parseEdgeLogLine(line(1, 'x', '0.5', 1, 3)), null)
  t.equal(parseEdgeLogLine(line(1, '1764683400.250', '0.500', 1, 3) + ' extra'), null)
})

t.test('consecutive requests of one connection make an inter-request sample at the link rate', async (t) => {
  // A 500,000-byte segment at 4 Mbit/s takes 1 s; with a 40 ms round trip the next request
  // arrives 1.04 s after the first one did.
  const a = parseEdgeLogLine(line(1, '1000.990', '0.990', 500_000, 5))!
  const b = parseEdgeLogLine(line(2, '1001.140', '0.100', 500_000, 6))!
  const d = edgeDelivery(a, b)!
  t.ok(d)
  const sample = sampleFromGap(d, b.arrivalMs, b.rttMs!)!
  const bps = sample.bytes * 8 / (sample.durationMs / 1000)
  t.ok(Math.abs(bps - 4e6) / 4e6 < 0.01, `${Math.round(bps)} bit/s`)
  t.equal(edgeDelivery(a, parseEdgeLogLine(line(3, '1001.140', '0.1', 1, 7))!), null, 'a request skipped in between')
  t.equal(edgeDelivery(a, { ...b, connection: '78' }), null, 'another connection')
  t.equal(edgeDelivery(a, { ...b, sid: 'sessionBBBBBBBB' }), null, 'another session')
  t.equal(edgeDelivery({ ...a, status: 404 }, b), null, 'an error answer')
})
