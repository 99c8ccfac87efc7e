import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { freePort } from '../helpers/free-port.js'
import { makeLadder, publishVideo } from '../delivery/fixtures.js'
import { request } from '../delivery/http.js'
import { registerAccount } from '../plugins/accounts.js'
import { fakeVideo, multipartBody } from '../plugins/multipart-body.js'
import { scrape, sum, type Samples } from './scrape.js'

// /metrics scraped over a real socket before and after real requests: each figure must move by
// what the test itself did and counted, not by what Lectern says it did elsewhere.

const ladder = await makeLadder(t, 3)
const { app } = await buildTestApp(t)
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const pub = await publishVideo(app, ladder)
const id = pub.video._id
const segments = [...ladder.keys()].filter((k) => k.startsWith('360p/segment-')).sort()

const delta = (before: Samples, after: Samples, name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels)

t.test('the text format, with Node process metrics', async (t) => {
  const res = await scrape(base)
  t.equal(res.status, 200)
  t.match(res.contentType, /^text\/plain; version=0\.0\.4/)
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    t.ok(res.samples.has(name), name)
  }
  t.match(res.text, /# TYPE lectern_delivered_bytes_total counter/)
  t.match(res.text, /# TYPE lectern_http_request_duration_seconds histogram/)
})

t.test('segments, playlists, ranges and posters: requests and bytes move by what was fetched', async (t) => {
  const before = await scrape(base)
  let firstBytes = 0
  let laterBytes = 0
  const N = 9
  for (let i = 0; i < N; i++) {
    const res = await request(base, `/hls/${id}/${segments[0]!}`)
    t.equal(res.status, 200)
    if (i === 0) firstBytes += res.body.byteLength
    else laterBytes += res.body.byteLength
  }
  const playlist = await request(base, `/hls/${id}/360p/index.m3u8`)
  const range1 = await request(base, `/stream/${id}`, { headers: { range: 'bytes=100-1099' } })
  // The chunk's fill settles just after its bytes went out; a reader joining it would count as its origin read.
  while ((app.cache.stats() as { inFlight?: number }).inFlight !== 0) await new Promise((resolve) => setTimeout(resolve, 5))
  const range2 = await request(base, `/stream/${id}`, { headers: { range: 'bytes=2000-2499' } })
  t.equal(range1.status, 206)
  t.equal(range2.status, 206)
  const poster = await request(base, `/poster/${id}`)
  const misses = 3
  for (let i = 0; i < misses; i++) t.equal((await request(base, '/api/videos/00000000000000000000')).status, 404)
  const after = await scrape(base)

  t.equal(delta(before.samples, after.samples, 'lectern_delivered_bytes_total', { kind: 'segment', cache: 'origin' }), firstBytes, 'the first read of a segment came from storage')
  t.equal(delta(before.samples, after.samples, 'lectern_delivered_bytes_total', { kind: 'segment', cache: 'l1' }), laterBytes, 'the others from memory')
  t.equal(delta(before.samples, after.samples, 'lectern_delivered_bytes_total', { kind: 'playlist' }), playlist.body.byteLength)
  t.equal(delta(before.samples, after.samples, 'lectern_delivered_bytes_total', { kind: 'progressive', cache: 'origin' }), 1000, 'the first range filled its chunk from storage')
  t.equal(delta(before.samples, after.samples, 'lectern_delivered_bytes_total', { kind: 'progressive', cache: 'l1' }), 500, 'the second was in the cached chunk')
  t.equal(delta(before.samples, after.samples, 'lectern_delivered_bytes_total', { kind: 'poster', cache: 'origin' }), poster.body.byteLength)

  // Every segment request is counted once, whether the router or the fast path answered it.
  const segmentRequests = delta(before.samples, after.samples, 'lectern_http_requests_total', { route: 'fast-path', status_class: '2xx' }) +
    delta(before.samples, after.samples, 'lectern_http_requests_total', { route: '/hls/:id/:rendition/:segment', status_class: '2xx' }) +
    delta(before.samples, after.samples, 'lectern_http_requests_total', { route: '/hls/:id/:rendition/index.m3u8', status_class: '2xx' })
  t.equal(segmentRequests, N + 1, 'N segments and one media playlist')
  t.ok(delta(before.samples, after.samples, 'lectern_http_requests_total', { route: 'fast-path' }) >= N - 2, 'cached hits went the fast path')
  t.equal(delta(before.samples, after.samples, 'lectern_http_requests_total', { route: '/api/videos/:id', status_class: '4xx' }), misses)
  t.equal(delta(before.samples, after.samples, 'lectern_http_request_duration_seconds_count', { route: '/api/videos/:id', status_class: '4xx' }), misses, 'each routed answer is timed')
  t.equal(delta(before.samples, after.samples, 'lectern_http_request_duration_seconds_bucket', { route: '/api/videos/:id', status_class: '4xx', le: '+Inf' }), misses)
  t.equal(delta(before.samples, after.samples, 'lectern_http_requests_total', { route: '/stream/:id', status_class: '2xx' }), 2)
  t.equal(delta(before.samples, after.samples, 'lectern_http_requests_total', { route: '/metrics', status_class: '2xx' }), 1, 'the scrape before this one')

  // Storage: one read for each object read for the first time (segment, playlist, chunk, poster), timed.
  t.equal(delta(before.samples, after.samples, 'lectern_storage_operation_seconds_count', { op: 'get', backend: 'fs', result: 'ok' }), 4)
  t.equal(delta(before.samples, after.samples, 'lectern_cache_lookups_total', { tier: 'origin', result: 'read' }), 4)
  t.ok(delta(before.samples, after.samples, 'lectern_cache_lookups_total', { tier: 'l1', result: 'hit' }) >= N - 1)
  t.ok(sum(after.samples, 'lectern_cache_l1_bytes') >= firstBytes + poster.body.byteLength, 'L1 holds what was read')
  t.equal(sum(after.samples, 'lectern_cache_tier_state', { tier: 'redis', state: 'disabled' }), 1, 'no Redis here')
  t.equal(sum(after.samples, 'lectern_cache_tier_state', { tier: 'memory', state: 'ok' }), 1)
})

t.test('viewing sessions and their estimates', async (t) => {
  const before = await scrape(base)
  const master = await request(base, `/hls/${id}/master.m3u8`)
  const sid = /sid=([A-Za-z0-9_-]{22})/.exec(master.body.toString())![1]!
  for (const name of segments) t.equal((await request(base, `/hls/${id}/${name}?sid=${sid}`)).status, 200)
  await app.abrSessions.settled()
  const after = await scrape(base)
  t.equal(sum(after.samples, 'lectern_abr_active_sessions') - sum(before.samples, 'lectern_abr_active_sessions'), 1, 'one more session played')
  const estimated = app.abrSessions.active(60_000).filter((e) => e !== null).length
  t.equal(sum(after.samples, 'lectern_abr_session_estimate_bps_count'), estimated, 'every session with an estimate is in the distribution')
  const estimate = app.abrSessions.peek(sid)?.estimate ?? null
  if (estimate !== null) {
    t.ok(sum(after.samples, 'lectern_abr_session_estimate_bps_sum') >= estimate, 'its estimate is in the sum')
  }
})

t.test('uploads and the transcode queue', async (t) => {
  const account = await registerAccount(app, 'teacher')
  const before = await scrape(base)
  const content = fakeVideo(200 * 1024)
  const { payload, headers } = multipartBody([{ name: 'title', value: 'Counted' }, { name: 'file', filename: 'a.mp4', content }])
  const res = await fetch(base + '/api/videos', { method: 'POST', body: payload, headers: { ...headers, ...account.auth } })
  t.equal(res.status, 202, await res.text())
  const after = await scrape(base)
  t.equal(delta(before.samples, after.samples, 'lectern_upload_received_bytes_total', { protocol: 'multipart' }), payload.byteLength, 'the request body, counted once accepted')
  t.equal(sum(after.samples, 'lectern_uploads_in_flight'), 0, 'nothing is being received now')
  t.equal(delta(before.samples, after.samples, 'lectern_transcode_jobs', { state: 'queued' }), 1, 'its job is queued (WORKER=off: nobody takes it)')
  t.equal(delta(before.samples, after.samples, 'lectern_transcode_queue_depth'), 1)
  t.equal(sum(after.samples, 'lectern_transcode_busy'), 0)
})

t.test('who may scrape', async (t) => {
  const outside = await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.9' })
  t.equal(outside.statusCode, 403)
  t.match(outside.json(), { statusCode: 403, error: 'Forbidden', message: /loopback/ })
  const proxied = await request(base, '/metrics', { headers: { 'x-forwarded-for': '203.0.113.9' } })
  t.equal(proxied.status, 403, 'a loopback peer that forwards for someone else is not trusted')

  const token = 'a-metrics-token-of-some-length'
  const { app: withToken } = await buildTestApp(t, { METRICS_TOKEN: token })
  t.equal((await withToken.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.9', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  const wrong = await withToken.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.9', headers: { authorization: `Bearer ${token}x` } })
  t.equal(wrong.statusCode, 401)
  t.notMatch(wrong.body, token, 'the token is not echoed')
  t.equal((await withToken.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.9' })).statusCode, 403)

  const port = await freePort()
  const { app: withPort } = await buildTestApp(t, { METRICS_PORT: String(port) })
  t.equal(withPort.metricsPort(), port)
  const own = await scrape(`http://127.0.0.1:${port}`)
  t.equal(own.status, 200)
  t.ok(own.samples.has('process_cpu_user_seconds_total'))
  t.ok([...own.samples.keys()].some((k) => k.startsWith('lectern_delivered_bytes_total')))
  const other = await request(`http://127.0.0.1:${port}`, '/health/live')
  t.equal(other.status, 404)
  t.match(JSON.parse(other.body.toString()), { statusCode: 404, error: 'Not Found' })
})
