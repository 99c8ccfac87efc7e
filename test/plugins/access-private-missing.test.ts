import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { forgePlaybackToken } from '../helpers/forge.js'
import { makeLadder, publishVideo } from '../delivery/fixtures.js'
import { request, type RawResponse } from '../delivery/http.js'
import { registerAccount } from './accounts.js'
import { newId } from '../../src/db/new-id.js'

// Every media route answers a private or unlisted video, to anyone who may not see it, exactly as
// it answers a video that does not exist: the same status, headers and body but for the id.

const SECRET = 'the server secret of this test, 32 characters or more'
const ladder = await makeLadder(t)
const { app } = await buildTestApp(t, { JWT_SECRET: SECRET })
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const owner = await registerAccount(app, 'owner')
const stranger = await registerAccount(app, 'stranger')
const priv = (await publishVideo(app, ladder, { visibility: 'private', owner: owner.id })).video._id
const unlisted = (await publishVideo(app, ladder, { visibility: 'unlisted', owner: owner.id })).video._id
const other = (await publishVideo(app, ladder, { visibility: 'unlisted', owner: owner.id })).video._id
const missing = newId()
const sid = 'AAAAAAAAAAAAAAAAAAAAAA'

const ROUTES = [
  (id: string) => `/stream/${id}`,
  (id: string) => `/hls/${id}/master.m3u8`,
  (id: string) => `/hls/${id}/360p/index.m3u8`,
  (id: string) => `/hls/${id}/360p/segment-00000.ts`,
  (id: string) => `/hls/${id}/360p/segment-00000.ts?sid=${sid}`,
  (id: string) => `/hls/${id}/poster.jpg`,
  (id: string) => `/poster/${id}`,
  (id: string) => `/adaptive_stream/${id}`,
  (id: string) => `/adaptive_stream/${id}/segment-00000.ts?sid=${sid}`
]

const soon = Math.floor(Date.now() / 1000) + 600
const CALLERS: Array<[string, (id: string) => { query: string, headers: Record<string, string> }]> = [
  ['no credentials', () => ({ query: '', headers: {} })],
  ['a forged token', () => ({ query: `token=${forgePlaybackToken('another secret of at least 32 characters!!', unlisted, soon)}`, headers: {} })],
  ['a token of another video', () => ({ query: `token=${forgePlaybackToken(SECRET, other, soon)}`, headers: {} })],
  ['a malformed token', () => ({ query: 'token=x', headers: {} })],
  ['a stranger\'s bearer token', () => ({ query: '', headers: stranger.auth })],
  ['a broken bearer token', () => ({ query: '', headers: { authorization: 'Bearer not.a.jwt' } })],
  ['a range request', () => ({ query: '', headers: { range: 'bytes=0-99' } })]
]

function withQuery (path: string, query: string): string {
  if (query === '') return path
  return path + (path.includes('?') ? '&' : '?') + query
}

/** What must be identical: status, header names and values (but the date), and the body with the id replaced. */
function shape (r: RawResponse, id: string): unknown {
  const headers = { ...r.headers }
  delete headers.date
  return { status: r.status, headers, body: r.body.toString('latin1').replaceAll(id, '<id>') }
}

t.test('private and unlisted videos are answered as missing ones, byte for byte', async (t) => {
  for (const route of ROUTES) {
    for (const [who, make] of CALLERS) {
      for (const method of ['GET', 'HEAD']) {
        const answers = await Promise.all([missing, priv, unlisted].map(async (id) => {
          const { query, headers } = make(id)
          return await request(base, withQuery(route(id), query), { method, headers })
        }))
        const [none, p, u] = answers as [RawResponse, RawResponse, RawResponse]
        const where = `${method} ${route('<id>')} with ${who}`
        t.equal(none.status, 404, `${where}: a missing video is 404`)
        t.same(shape(p, priv), shape(none, missing), `${where}: private = missing`)
        t.same(shape(u, unlisted), shape(none, missing), `${where}: unlisted = missing`)
      }
    }
  }
  // The JSON API: a private video is missing to others there too (unlisted ones are readable by anyone).
  for (const path of [(id: string) => `/api/videos/${id}`, (id: string) => `/api/videos/${id}/playback`]) {
    for (const headers of [{}, stranger.auth]) {
      const none = await request(base, path(missing), { headers })
      const p = await request(base, path(priv), { headers })
      t.equal(none.status, 404)
      t.same(shape(p, priv), shape(none, missing), `${path('<id>')}: private = missing`)
    }
  }
})

t.test('those allowed still play', async (t) => {
  t.equal((await request(base, `/hls/${priv}/master.m3u8`, { headers: owner.auth })).status, 200, 'the owner, by bearer token')
  const playback = await request(base, `/api/videos/${unlisted}/playback`)
  const { hlsUrl, streamUrl } = JSON.parse(playback.body.toString()) as { hlsUrl: string, streamUrl: string }
  t.equal((await request(base, hlsUrl)).status, 200, 'a playback token of the unlisted video')
  t.equal((await request(base, streamUrl, { headers: { range: 'bytes=0-9' } })).status, 206)
})
