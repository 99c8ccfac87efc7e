import t from 'tap'
import { resolveRange, parseRangeHeader, matchesAny, type Representation } from '../../src/delivery/resolve-range.js'

const modified = new Date('2026-01-02T03:04:05.678Z')
const rep: Representation = { size: 1000, etag: '"abc"', lastModified: modified, contentType: 'video/mp4' }
const get = (headers: Record<string, string> = {}) => ({ method: 'GET', ...headers })

t.test('no range: 200 with the full length', async (t) => {
  const r = resolveRange(rep, get())
  t.equal(r.status, 200)
  t.same(r.headers, { 'content-length': '1000' })
  t.same(r.ranges, [{ start: 0, end: 999 }])
})

t.test('single range forms', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['bytes=0-99', 0, 99],
    ['bytes=100-', 100, 999],
    ['bytes=-100', 900, 999],
    ['bytes=990-5000', 990, 999],
    ['bytes=-5000', 0, 999],
    ['bytes=999-999', 999, 999],
    ['bytes=0-0', 0, 0],
    ['BYTES=1-2', 1, 2],
    ['bytes=0001-0002', 1, 2],
    ['bytes=5-99999999999999999999999999999', 5, 999],
    ['bytes=-99999999999999999999999999', 0, 999]
  ]
  for (const [header, start, end] of cases) {
    const r = resolveRange(rep, get({ range: header }))
    t.equal(r.status, 206, header)
    t.same(r.ranges, [{ start, end }], header)
    t.equal(r.headers['content-range'], `bytes ${start}-${end}/1000`, header)
    t.equal(r.headers['content-length'], String(end - start + 1), header)
  }
})

t.test('unsatisfiable ranges: 416 with bytes */size', async (t) => {
  for (const header of ['bytes=1000-', 'bytes=-0', 'bytes=5000-6000', 'bytes=99999999999999999999999-', 'bytes=1000-1001, -0']) {
    const r = resolveRange(rep, get({ range: header }))
    t.equal(r.status, 416, header)
    t.equal(r.headers['content-range'], 'bytes */1000', header)
    t.same(r.ranges, [])
  }
  const empty = resolveRange({ ...rep, size: 0 }, get({ range: 'bytes=0-' }))
  t.equal(empty.status, 416)
  t.equal(empty.headers['content-range'], 'bytes */0')
})

t.test('malformed or foreign-unit ranges are ignored', async (t) => {
  for (const header of ['bytes=abc', 'bytes=5-2', 'items=0-1', 'bytes', 'bytes=', 'bytes=-', 'bytes=1-2-3', 'bytes=0x10-20', 'bytes=1.5-2', 'bytes= ,', 'bytes=-1-']) {
    const r = resolveRange(rep, get({ range: header }))
    t.equal(r.status, 200, header)
    t.same(r.ranges, [{ start: 0, end: 999 }], header)
  }
})

t.test('several ranges: multipart/byteranges with exact framing', async (t) => {
  const r = resolveRange(rep, get({ range: 'bytes=500-509, 0-9' }), { boundary: () => 'B' })
  t.equal(r.status, 206)
  t.equal(r.headers['content-type'], 'multipart/byteranges; boundary=B')
  t.same(r.ranges, [{ start: 0, end: 9 }, { start: 500, end: 509 }])
  const body = r.multipart!.parts.map((p) => p.head + 'x'.repeat(p.range.end - p.range.start + 1)).join('') + r.multipart!.tail
  t.equal(body,
    '--B\r\ncontent-type: video/mp4\r\ncontent-range: bytes 0-9/1000\r\n\r\nxxxxxxxxxx' +
    '\r\n--B\r\ncontent-type: video/mp4\r\ncontent-range: bytes 500-509/1000\r\n\r\nxxxxxxxxxx' +
    '\r\n--B--\r\n')
  t.equal(r.headers['content-length'], String(Buffer.byteLength(body)))
})

t.test('overlapping and adjacent ranges merge; unsatisfiable members are dropped', async (t) => {
  const merged = resolveRange(rep, get({ range: 'bytes=0-99,50-150,151-200' }))
  t.equal(merged.status, 206)
  t.same(merged.ranges, [{ start: 0, end: 200 }])
  t.equal(merged.headers['content-range'], 'bytes 0-200/1000')
  const dropped = resolveRange(rep, get({ range: 'bytes=2000-3000,10-19' }))
  t.same(dropped.ranges, [{ start: 10, end: 19 }])
  t.equal(dropped.headers['content-range'], 'bytes 10-19/1000')
})

t.test('too many ranges: the full body instead', async (t) => {
  const big = { ...rep, size: 100_000 }
  const header = 'bytes=' + Array.from({ length: 40 }, (_, i) => `${i * 200}-${i * 200}`).join(',')
  t.equal(resolveRange(big, get({ range: header })).status, 200)
  t.equal(resolveRange(big, get({ range: header }), { maxRanges: 64 }).status, 206)
  // Forty tiny overlapping ranges are one range once merged, so they are served.
  const overlapping = 'bytes=' + Array.from({ length: 40 }, (_, i) => `${i}-${i + 1}`).join(',')
  t.same(resolveRange(big, get({ range: overlapping })).ranges, [{ start: 0, end: 40 }])
})

t.test('If-None-Match: weak comparison, lists, *', async (t) => {
  for (const v of ['"abc"', 'W/"abc"', '"x", "abc"', '*', '"a,b", W/"abc"']) {
    t.equal(resolveRange(rep, get({ ifNoneMatch: v })).status, 304, v)
  }
  for (const v of ['"abd"', '"ab"', '"x", "y"']) {
    t.equal(resolveRange(rep, get({ ifNoneMatch: v })).status, 200, v)
  }
  t.equal(resolveRange(rep, { method: 'HEAD', ifNoneMatch: '"abc"' }).status, 304)
  t.equal(resolveRange(rep, { method: 'PUT', ifNoneMatch: '"abc"' }).status, 412)
})

t.test('If-Modified-Since; If-None-Match takes precedence', async (t) => {
  t.equal(resolveRange(rep, get({ ifModifiedSince: modified.toUTCString() })).status, 304)
  t.equal(resolveRange(rep, get({ ifModifiedSince: new Date(modified.getTime() + 60_000).toUTCString() })).status, 304)
  t.equal(resolveRange(rep, get({ ifModifiedSince: new Date(modified.getTime() - 60_000).toUTCString() })).status, 200)
  t.equal(resolveRange(rep, get({ ifModifiedSince: 'not a date' })).status, 200)
  // A non-matching If-None-Match means "changed", whatever the date says.
  t.equal(resolveRange(rep, get({ ifNoneMatch: '"other"', ifModifiedSince: modified.toUTCString() })).status, 200)
})

t.test('If-Match and If-Unmodified-Since', async (t) => {
  t.equal(resolveRange(rep, get({ ifMatch: '"abc"' })).status, 200)
  t.equal(resolveRange(rep, get({ ifMatch: 'W/"abc"' })).status, 412)
  t.equal(resolveRange(rep, get({ ifMatch: '"nope"' })).status, 412)
  t.equal(resolveRange(rep, get({ ifMatch: '*' })).status, 200)
  t.equal(resolveRange(rep, get({ ifUnmodifiedSince: new Date(modified.getTime() - 60_000).toUTCString() })).status, 412)
  t.equal(resolveRange(rep, get({ ifUnmodifiedSince: modified.toUTCString() })).status, 200)
})

t.test('If-Range: strong ETag or exact date; weak tag or other date gives the full body', async (t) => {
  const range = 'bytes=0-9'
  t.equal(resolveRange(rep, get({ range, ifRange: '"abc"' })).status, 206)
  t.equal(resolveRange(rep, get({ range, ifRange: modified.toUTCString() })).status, 206)
  t.equal(resolveRange(rep, get({ range, ifRange: 'W/"abc"' })).status, 200)
  t.equal(resolveRange(rep, get({ range, ifRange: '"old"' })).status, 200)
  t.equal(resolveRange(rep, get({ range, ifRange: new Date(modified.getTime() + 1000).toUTCString() })).status, 200)
  t.equal(resolveRange(rep, get({ range, ifRange: 'garbage' })).status, 200)
  // Without Range, If-Range means nothing.
  t.equal(resolveRange(rep, get({ ifRange: '"old"' })).status, 200)
})

t.test('HEAD resolves like GET; other methods ignore Range', async (t) => {
  t.equal(resolveRange(rep, { method: 'HEAD', range: 'bytes=0-9' }).status, 206)
  t.equal(resolveRange(rep, { method: 'POST', range: 'bytes=0-9' }).status, 200)
})

t.test('parseRangeHeader and matchesAny edge cases', async (t) => {
  t.same(parseRangeHeader('bytes=0-1, ,2-3', 10), [{ start: 0, end: 1 }, { start: 2, end: 3 }])
  t.equal(parseRangeHeader('bytes=0-1;x', 10), undefined)
  t.notOk(matchesAny('"abc"', 'W/"abc"', true))
  t.ok(matchesAny('"abc"', 'W/"abc"', false))
})
