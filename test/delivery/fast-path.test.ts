import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { VIDEOS } from '../../src/db/video-repository.js'
import type { Video } from '../../src/db/documents.js'
import { buildTestApp } from '../helpers/app.js'
import { scrape, sum } from '../metrics/scrape.js'
import { makeLadder, publishVideo } from './fixtures.js'
import { request } from './http.js'

// The in-memory fast path remembers what each URL resolved to. What it answers must follow the
// video's document as the router does: a change of visibility, status or version is seen within
// the document's reuse time (1 s), and the fast path then answers nothing it should not.

const ladder = await makeLadder(t)
const { app } = await buildTestApp(t)
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const pub = await publishVideo(app, ladder)
const id = pub.video._id
const version = pub.video.version!
const segment = [...ladder.keys()].filter((k) => k.startsWith('360p/segment-')).sort()[0]!
const url = `/hls/${id}/${segment}`
const bytes = pub.objects.get(`videos/${id}/${version}/${segment}`)!

const fastAnswers = async (): Promise<number> => sum((await scrape(base)).samples, 'lectern_http_requests_total', { route: 'fast-path' })
const setVideo = async (fields: Partial<Video>): Promise<void> => {
  await app.db.collection<Video>(VIDEOS).updateOne({ _id: id }, { $set: fields })
}
/** Polls until the URL answers `status` (the document is reused for up to 1 s), at most 10 s. */
async function untilStatus (status: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await request(base, url)).status === status) return
    await sleep(100)
  }
  throw new Error(`${url} did not answer ${status} within 10 s`)
}

t.test('hits go the fast path, with the stored bytes', async (t) => {
  t.equal((await request(base, url)).status, 200, 'the first read fills the cache')
  const before = await fastAnswers()
  for (let i = 0; i < 5; i++) {
    const res = await request(base, url)
    t.equal(res.status, 200)
    t.ok(res.body.equals(bytes), 'the stored bytes')
  }
  t.equal(await fastAnswers() - before, 5, 'every hit answered ahead of the router')
})

t.test('header fields are recognised in any case: ranges and preconditions answered here as the router would, CMCD left to the router', async (t) => {
  t.equal((await request(base, url)).status, 200, 'in the cache')
  let before = await fastAnswers()
  const range = await request(base, url, { headers: { rAnGe: 'bytes=10-19' } })
  t.equal(range.status, 206)
  t.ok(range.body.equals(bytes.subarray(10, 20)), 'the bytes of the range')
  const etag = range.headers.etag!
  t.equal((await request(base, url, { headers: { 'IF-NONE-MATCH': etag } })).status, 304)
  t.equal((await request(base, url, { headers: { 'If-Match': '"another"' } })).status, 412)
  // Same lengths as fields that matter, other names: a plain 200.
  const decoys = await request(base, url, { headers: { 'Cache-Control': 'no-cache', Rangy: 'x', 'If-Matcher': 'x', 'cmcd-objects': 'x' } })
  t.equal(decoys.status, 200)
  t.ok(decoys.body.equals(bytes), 'the whole segment')
  t.equal(await fastAnswers() - before, 4, 'all four answered ahead of the router')
  before = await fastAnswers()
  const cmcd = await request(base, url, { headers: { 'cMcD-rEqUeSt': 'bl=21300' } })
  t.equal(cmcd.status, 200)
  t.ok(cmcd.body.equals(bytes), 'the whole segment, from the router')
  t.equal(await fastAnswers() - before, 0, 'a CMCD header goes to the router')
})

t.test('a video made private stops being answered, and answers again once public', async (t) => {
  await setVideo({ visibility: 'private' })
  await untilStatus(404)
  const before = await fastAnswers()
  for (let i = 0; i < 3; i++) t.equal((await request(base, url)).status, 404, 'private is missing')
  t.equal(await fastAnswers() - before, 0, 'the fast path answered none of them')
  await setVideo({ visibility: 'public' })
  await untilStatus(200)
  const again = await fastAnswers()
  t.ok((await request(base, url)).body.equals(bytes))
  t.equal(await fastAnswers() - again, 1, 'the fast path answers again')
})

t.test('a document pointing at another version no longer serves the old version\'s bytes', async (t) => {
  await setVideo({ version: 'vgone0000' })
  await untilStatus(404)
  const before = await fastAnswers()
  t.equal((await request(base, url)).status, 404, 'the new version has no such segment')
  t.equal(await fastAnswers() - before, 0)
  await setVideo({ version })
  await untilStatus(200)
})

t.test('a video that is no longer ready is not answered from memory', async (t) => {
  await setVideo({ status: 'processing' })
  for (let i = 0; i < 30; i++) {
    await sleep(100)
    const before = await fastAnswers()
    await request(base, url)
    if (await fastAnswers() === before) break
  }
  const before = await fastAnswers()
  await request(base, url)
  t.equal(await fastAnswers() - before, 0, 'the router answers it (as it does a video being transcoded)')
  await setVideo({ status: 'ready' })
})
