import t from 'tap'
import http from 'node:http'
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { buildTestApp } from '../helpers/app.js'
import { requireTools } from '../helpers/requirements.js'
import { publishVideo } from './fixtures.js'
import { parseMultipart, request } from './http.js'

const execFileAsync = promisify(execFile)
const MiB = 1024 * 1024
// Three full chunks and a short last one, so ranges cross chunk boundaries.
const SIZE = 3 * MiB + 12345
const bytes = randomBytes(SIZE)

const { app } = await buildTestApp(t)
const { video } = await publishVideo(app, new Map([['progressive.mp4', bytes]]))
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const path = `/stream/${video._id}`

t.test('full GET: every header a player and a cache need, and the exact bytes', async (t) => {
  const r = await request(base, path)
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], 'video/mp4')
  t.equal(r.headers['content-length'], String(SIZE))
  t.equal(r.headers['accept-ranges'], 'bytes')
  t.match(r.headers.etag, /^"[^"]+"$/, 'a strong ETag')
  t.ok(r.headers['last-modified'] !== undefined && !Number.isNaN(Date.parse(r.headers['last-modified'])))
  t.ok(r.headers.date !== undefined)
  t.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable')
  t.equal(r.headers['access-control-allow-origin'], '*')
  t.match(r.headers['access-control-expose-headers'], /Content-Range/)
  t.match(r.headers['access-control-expose-headers'], /Content-Length/)
  t.ok(r.body.equals(bytes), 'byte-exact body')
})

t.test('each single-range form, byte-exact', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['bytes=0-99', 0, 99],
    ['bytes=100-', 100, SIZE - 1],
    ['bytes=-100', SIZE - 100, SIZE - 1],
    ['bytes=0-0', 0, 0],
    [`bytes=${SIZE - 10}-${SIZE + 1000}`, SIZE - 10, SIZE - 1],
    [`bytes=${MiB - 5}-${MiB + 4}`, MiB - 5, MiB + 4],
    [`bytes=${MiB - 1}-${3 * MiB + 100}`, MiB - 1, 3 * MiB + 100],
    [`bytes=${3 * MiB}-`, 3 * MiB, SIZE - 1],
    ['bytes=-99999999999999999999999999999', 0, SIZE - 1],
    ['bytes=10-99999999999999999999999999999', 10, SIZE - 1]
  ]
  for (const [range, start, end] of cases) {
    const r = await request(base, path, { headers: { range } })
    t.equal(r.status, 206, range)
    t.equal(r.headers['content-range'], `bytes ${start}-${end}/${SIZE}`, range)
    t.equal(r.headers['content-length'], String(end - start + 1), range)
    t.ok(r.body.equals(bytes.subarray(start, end + 1)), `${range}: exact bytes`)
    t.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable')
  }
})

t.test('unsatisfiable ranges: 416 with bytes */size', async (t) => {
  for (const range of [`bytes=${SIZE}-`, 'bytes=-0', `bytes=${SIZE + 5}-${SIZE + 10}`, 'bytes=99999999999999999999999-']) {
    const r = await request(base, path, { headers: { range } })
    t.equal(r.status, 416, range)
    t.equal(r.headers['content-range'], `bytes */${SIZE}`, range)
    t.equal(JSON.parse(r.body.toString()).code, 'LECTERN_ERR_RANGE_NOT_SATISFIABLE')
  }
})

t.test('malformed or foreign-unit ranges are ignored: 200 and the full body', async (t) => {
  for (const range of ['bytes=abc', 'bytes=10-5', 'items=0-10', 'bytes=1-2-3', 'bytes=']) {
    const r = await request(base, path, { headers: { range } })
    t.equal(r.status, 200, range)
    t.equal(r.body.length, SIZE, range)
  }
})

t.test('several ranges: multipart/byteranges with each part exact', async (t) => {
  const r = await request(base, path, { headers: { range: `bytes=0-9, ${2 * MiB - 3}-${2 * MiB + 2}, -7` } })
  t.equal(r.status, 206)
  const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(r.headers['content-type'] ?? '')
  t.ok(m, 'multipart content type')
  t.equal(Number(r.headers['content-length']), r.body.length, 'content-length is the body length')
  const parts = parseMultipart(r.body, m![1]!)
  t.equal(parts.length, 3)
  const expected: Array<[number, number]> = [[0, 9], [2 * MiB - 3, 2 * MiB + 2], [SIZE - 7, SIZE - 1]]
  for (const [i, [start, end]] of expected.entries()) {
    t.equal(parts[i]!.headers['content-range'], `bytes ${start}-${end}/${SIZE}`)
    t.equal(parts[i]!.headers['content-type'], 'video/mp4')
    t.ok(parts[i]!.body.equals(bytes.subarray(start, end + 1)), `part ${i} exact`)
  }
})

t.test('conditional requests', async (t) => {
  const first = await request(base, path, { headers: { range: 'bytes=0-0' } })
  const etag = first.headers.etag!
  const lastModified = first.headers['last-modified']!

  const inm = await request(base, path, { headers: { 'if-none-match': etag } })
  t.equal(inm.status, 304)
  t.equal(inm.body.length, 0)
  t.equal(inm.headers.etag, etag)
  t.equal(inm.headers['cache-control'], 'public, max-age=31536000, immutable')
  t.equal((await request(base, path, { headers: { 'if-none-match': `W/${etag}` } })).status, 304, 'weak comparison')
  t.equal((await request(base, path, { headers: { 'if-none-match': `"nope", ${etag}` } })).status, 304, 'a list')
  t.equal((await request(base, path, { headers: { 'if-none-match': '*' } })).status, 304, '*')
  t.equal((await request(base, path, { headers: { 'if-none-match': '"nope"', range: 'bytes=0-0' } })).status, 206)
  t.equal((await request(base, path, { headers: { 'if-modified-since': lastModified } })).status, 304)
  t.equal((await request(base, path, { headers: { 'if-modified-since': new Date(Date.parse(lastModified) - 3600_000).toUTCString() } })).status, 200)
  const precedence = await request(base, path, { headers: { 'if-none-match': '"nope"', 'if-modified-since': lastModified } })
  t.equal(precedence.status, 200, 'If-None-Match takes precedence over If-Modified-Since')

  const strong = await request(base, path, { headers: { range: 'bytes=5-9', 'if-range': etag } })
  t.equal(strong.status, 206)
  t.ok(strong.body.equals(bytes.subarray(5, 10)))
  t.equal((await request(base, path, { headers: { range: 'bytes=5-9', 'if-range': lastModified } })).status, 206, 'exact date')
  const weak = await request(base, path, { headers: { range: 'bytes=5-9', 'if-range': `W/${etag}` } })
  t.equal(weak.status, 200, 'a weak tag in If-Range: the full body')
  t.equal(weak.body.length, SIZE)
  t.equal((await request(base, path, { headers: { range: 'bytes=5-9', 'if-range': '"stale"' } })).status, 200)

  t.equal((await request(base, path, { headers: { 'if-match': '"stale"' } })).status, 412)
})

t.test('HEAD: the headers of GET, no body', async (t) => {
  for (const headers of [{}, { range: 'bytes=10-19' }, { range: `bytes=${SIZE}-` }] as Array<Record<string, string>>) {
    const get = await request(base, path, { headers })
    const head = await request(base, path, { method: 'HEAD', headers })
    t.equal(head.status, get.status)
    t.equal(head.body.length, 0)
    for (const name of ['content-type', 'content-length', 'content-range', 'etag', 'last-modified', 'accept-ranges', 'cache-control', 'access-control-allow-origin']) {
      t.equal(head.headers[name], get.headers[name], `${JSON.stringify(headers)} ${name}`)
    }
    t.ok(head.headers.date !== undefined)
  }
})

t.test('keep-alive: several ranged requests on one connection', async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const ports = new Set<number>()
  const ranges: Array<[number, number]> = [[0, 999], [MiB - 10, MiB + 10], [SIZE - 50, SIZE - 1], [2 * MiB, 3 * MiB - 1], [7, 7]]
  for (const [start, end] of ranges) {
    const r = await request(base, path, { agent, headers: { range: `bytes=${start}-${end}` } })
    t.equal(r.status, 206)
    t.ok(r.body.equals(bytes.subarray(start, end + 1)), `bytes ${start}-${end}`)
    ports.add(r.localPort)
  }
  // A HEAD and a 304 in between must not break the framing of the next answer.
  t.equal((await request(base, path, { agent, method: 'HEAD' })).status, 200)
  const etag = (await request(base, path, { agent, method: 'HEAD' })).headers.etag!
  t.equal((await request(base, path, { agent, headers: { 'if-none-match': etag } })).status, 304)
  const last = await request(base, path, { agent, headers: { range: 'bytes=100-199' } })
  t.ok(last.body.equals(bytes.subarray(100, 200)))
  ports.add(last.localPort)
  t.equal(ports.size, 1, 'all on one connection')
})

t.test('curl -r gets the exact bytes', async (t) => {
  if (!requireTools(t, 'curl')) return
  for (const [range, start, end] of [['0-99', 0, 99], [`${MiB - 50}-${MiB + 49}`, MiB - 50, MiB + 49], ['-64', SIZE - 64, SIZE - 1]] as const) {
    // Asynchronously: the server answering curl runs on this very event loop.
    const { stdout } = await execFileAsync('curl', ['-s', '-f', '--max-time', '20', '-r', range, base + path], { encoding: 'buffer', maxBuffer: 8 * MiB })
    t.ok(stdout.equals(bytes.subarray(start, end + 1)), `curl -r ${range}: exact bytes`)
  }
})

t.test('chunks are filled once and then answered from memory', async (t) => {
  const before = app.cache.stats().originReads
  await request(base, path, { headers: { range: `bytes=${MiB + 1}-${MiB + 2}` } })
  await request(base, path, { headers: { range: `bytes=${MiB + 500}-${2 * MiB + 500}` } })
  t.equal(app.cache.stats().originReads, before, 'chunks read before are not read again')
})

t.test('unknown, malformed and not-playable ids', async (t) => {
  t.equal((await request(base, '/stream/0123456789abcdef0123')).status, 404)
  t.equal((await request(base, '/stream/..%2F..%2Fjwt-secret')).status, 404)
  // The router removes dot segments as a browser would (RFC 3986 5.2.4): /stream/.. is the site's
  // root, which is the web UI's home page, never a stored object.
  const dots = await request(base, '/stream/%2e%2e')
  t.ok(dots.status === 404 || (dots.status === 200 && dots.headers['content-type'] === 'text/html; charset=utf-8' && dots.body.toString().startsWith('<!doctype html>')),
    `/stream/%2e%2e is not found or the home page (${dots.status} ${String(dots.headers['content-type'])})`)
  const processing = await publishVideo(app, new Map([['progressive.mp4', bytes.subarray(0, 10)]]), { status: 'processing' })
  const r = await request(base, `/stream/${processing.video._id}`)
  t.equal(r.status, 404, 'a video that is not ready does not exist for strangers')
  t.equal(r.headers['access-control-allow-origin'], '*', 'CORS on errors too')
})

t.test('OPTIONS preflight', async (t) => {
  const r = await request(base, path, { method: 'OPTIONS', headers: { origin: 'https://player.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' } })
  t.equal(r.status, 204)
  t.equal(r.headers['access-control-allow-origin'], '*')
  t.match(r.headers['access-control-allow-headers'], /Range/)
  t.match(r.headers['access-control-allow-methods'], /GET/)
})

t.test('OPTIONS preflight for a player that revalidates: every conditional header is allowed', async (t) => {
  const conditional = ['range', 'if-range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since']
  for (const target of [path, `/hls/${video._id}/master.m3u8`]) {
    const r = await request(base, target, { method: 'OPTIONS', headers: { origin: 'https://player.example', 'access-control-request-method': 'GET', 'access-control-request-headers': conditional.join(',') } })
    t.equal(r.status, 204, target)
    t.equal(r.headers['access-control-allow-origin'], '*')
    const allowed = (r.headers['access-control-allow-headers'] ?? '').toLowerCase().split(',').map((h) => h.trim())
    t.same(conditional.filter((h) => !allowed.includes(h)), [], `${target}: ${conditional.join(', ')} all allowed`)
    t.match(r.headers['access-control-allow-methods'], /GET/)
    t.match(r.headers['access-control-allow-methods'], /HEAD/)
  }
  // And what the answer exposes lets the player read its validators and ranges.
  const got = await request(base, path, { headers: { origin: 'https://player.example', range: 'bytes=0-9' } })
  const exposed = (got.headers['access-control-expose-headers'] ?? '').toLowerCase()
  for (const header of ['content-range', 'content-length', 'accept-ranges', 'etag']) t.ok(exposed.includes(header), `${header} exposed`)
})

t.test('up to 32 ranges (after merging) get a multipart answer, 33 get the whole file', async (t) => {
  // Ranges 90 KB apart never merge, and all 33 lie inside the file.
  const ranges = (n: number) => Array.from({ length: n }, (_, i) => [i * 90_000, i * 90_000 + 9] as [number, number])
  const header = (n: number) => 'bytes=' + ranges(n).map(([a, b]) => `${a}-${b}`).join(',')
  const at32 = await request(base, path, { headers: { range: header(32) } })
  t.equal(at32.status, 206, '32 ranges: 206')
  const boundary = /boundary=(\S+)$/.exec(at32.headers['content-type'] ?? '')?.[1]
  t.ok(boundary, 'multipart/byteranges')
  const parts = parseMultipart(at32.body, boundary!)
  t.equal(parts.length, 32, '32 parts')
  t.ok(parts.every((p, i) => p.body.equals(bytes.subarray(ranges(32)[i]![0], ranges(32)[i]![1] + 1))), 'each part exact')
  const at33 = await request(base, path, { headers: { range: header(33) } })
  t.equal(at33.status, 200, '33 ranges: the full 200')
  t.ok(at33.body.equals(bytes), 'the whole file')
  // 33 ranges that merge into fewer than 33 are not too many.
  const adjacent = 'bytes=' + Array.from({ length: 40 }, (_, i) => `${i * 10}-${i * 10 + 9}`).join(',') + ',1000000-1000009'
  const merged = await request(base, path, { headers: { range: adjacent } })
  t.equal(merged.status, 206, '40 adjacent ranges merge first: a 206')
})
