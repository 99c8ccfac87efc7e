import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { makeLadder, publishVideo } from '../delivery/fixtures.js'
import { request } from '../delivery/http.js'
import { registerAccount } from './accounts.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import type { Video } from '../../src/db/documents.js'

// A playback token stops working on every node within a second (the time a node reuses a video
// document) of the change that revokes it: a visibility change, a deletion, a new transcode.

const SECRET = 'the server secret of this test, 32 characters or more'
const ladder = await makeLadder(t)
const { app: a } = await buildTestApp(t, { JWT_SECRET: SECRET })
// A second node on the same database and storage, with its own caches.
const { app: b } = await buildTestApp(t, { JWT_SECRET: SECRET }, { db: a.db, storage: a.storage })
const nodes = [await a.listen({ port: 0, host: '127.0.0.1' }), await b.listen({ port: 0, host: '127.0.0.1' })]
const owner = await registerAccount(a, 'owner')

async function playable (visibility: 'unlisted' | 'private'): Promise<{ id: string, urls: string[] }> {
  const id = (await publishVideo(a, ladder, { visibility, owner: owner.id })).video._id
  const res = await a.inject({ url: `/api/videos/${id}/playback`, headers: owner.auth })
  const { hlsUrl, streamUrl } = res.json() as { hlsUrl: string, streamUrl: string }
  const token = new URL(streamUrl, 'http://x').searchParams.get('token')!
  const urls = [hlsUrl, streamUrl, `/hls/${id}/360p/index.m3u8?token=${token}`, `/hls/${id}/360p/segment-00000.ts?token=${token}`]
  // Both nodes play it, and so have its document in memory.
  for (const base of nodes) for (const url of urls) t.equal((await request(base, url)).status, 200, `plays before: ${url}`)
  return { id, urls }
}

/** Milliseconds until every URL is 404 on every node; fails past 3 s. */
async function untilRefused (urls: string[]): Promise<number> {
  const started = Date.now()
  for (;;) {
    // While a node still holds the document of a deleted video its bytes may be gone already: a
    // dropped connection then is the answer of that window (status 0 here), not a refusal.
    const statuses = await Promise.all(nodes.flatMap((base) => urls.map(async (url) => await request(base, url).then((r) => r.status, () => 0))))
    if (statuses.every((s) => s === 404)) return Date.now() - started
    if (statuses.some((s) => s !== 200 && s !== 404 && s !== 0)) throw new Error(`unexpected status among ${statuses.join()}`)
    if (Date.now() - started > 3000) throw new Error(`still answered after 3 s: ${statuses.join()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('making an unlisted video private revokes its tokens on both nodes within a second', async (t) => {
  const { id, urls } = await playable('unlisted')
  // An edit that leaves the visibility as it is revokes nothing.
  t.equal((await a.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: owner.auth, payload: { title: 'Renamed', visibility: 'unlisted' } })).statusCode, 200)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  for (const base of nodes) t.equal((await request(base, urls[1]!)).status, 200, 'a title change keeps tokens working')

  t.equal((await a.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: owner.auth, payload: { visibility: 'private' } })).statusCode, 200)
  const ms = await untilRefused(urls)
  t.ok(ms <= 1200, `refused on both nodes after ${ms} ms`)
  // Making it unlisted again does not bring the old token back.
  t.equal((await a.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: owner.auth, payload: { visibility: 'unlisted' } })).statusCode, 200)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  for (const base of nodes) t.equal((await request(base, urls[1]!)).status, 404, 'the old token stays revoked')
  const fresh = (await a.inject({ url: `/api/videos/${id}/playback` })).json() as { streamUrl: string }
  for (const base of nodes) t.equal((await request(base, fresh.streamUrl)).status, 200, 'a new token works')
})

t.test('deleting a video revokes its tokens on both nodes within a second', async (t) => {
  const { id, urls } = await playable('private')
  t.equal((await b.inject({ method: 'DELETE', url: `/api/videos/${id}`, headers: owner.auth })).statusCode, 204)
  const ms = await untilRefused(urls)
  t.ok(ms <= 1200, `refused on both nodes after ${ms} ms`)
})

t.test('a new transcode (the access epoch moves on) revokes earlier tokens', async (t) => {
  const { id, urls } = await playable('unlisted')
  // What the transcoder's publish step does besides pointing at the new ladder (transcode-video.ts).
  await a.db.collection<Video>(VIDEOS).updateOne({ _id: id }, { $inc: { accessEpoch: 1 } })
  const ms = await untilRefused(urls)
  t.ok(ms <= 1200, `refused on both nodes after ${ms} ms`)
})

t.test('a token issued after a change plays at once on a node that has not seen the change yet', async (t) => {
  const { id } = await playable('unlisted')
  // Node b holds the document from before; the change and the new token come from node a.
  t.equal((await a.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: owner.auth, payload: { visibility: 'private' } })).statusCode, 200)
  const fresh = (await a.inject({ url: `/api/videos/${id}/playback`, headers: owner.auth })).json() as { streamUrl: string, hlsUrl: string }
  t.equal((await request(nodes[1]!, fresh.streamUrl, { headers: { range: 'bytes=0-9' } })).status, 206, 'node b reads the video again for a token newer than its copy')
  t.equal((await request(nodes[1]!, fresh.hlsUrl)).status, 200)
})
