import { readFile } from 'node:fs/promises'
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { requireTools } from '../helpers/requirements.js'
import { makeClip } from '../helpers/media.js'
import type { Job, Video } from '../../src/db/documents.js'
import { registerAccount, type Account } from './accounts.js'
import { fakeVideo, multipartBody, type FormPart } from './multipart-body.js'
import { storedFiles } from './stored-files.js'

async function readAll (stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function upload (app: FastifyInstance, account: Account | undefined, parts: FormPart[]) {
  const { payload, headers } = multipartBody(parts)
  return app.inject({ method: 'POST', url: '/api/videos', payload, headers: { ...headers, ...account?.auth } })
}

const file = (content = fakeVideo(), filename = 'lecture.mp4', type = 'video/mp4'): FormPart => ({ name: 'file', filename, content, type })

async function uploaded (app: FastifyInstance, account: Account, fields: Record<string, string> = {}): Promise<{ id: string, [k: string]: unknown }> {
  const res = await upload(app, account, [{ name: 'title', value: fields.title ?? 'A lecture' }, ...Object.entries(fields).filter(([k]) => k !== 'title').map(([name, value]) => ({ name, value })), file()])
  if (res.statusCode !== 202) throw new Error(`upload failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

t.test('an upload streams into storage, answers 202 with the video and queues a transcode', async (t) => {
  if (!requireTools(t, 'ffmpeg')) return
  const { app } = await buildTestApp(t)
  const owner = await registerAccount(app)
  const clip = await readFile(await makeClip({ seconds: 1, width: 160, height: 90 }, t))
  const res = await upload(app, owner, [
    { name: 'title', value: 'Introduction to optics' },
    { name: 'description', value: 'Lenses and mirrors' },
    { name: 'tags', value: 'physics, optics' },
    { name: 'tags', value: 'light' },
    { name: 'visibility', value: 'unlisted' },
    file(clip, 'optics.mp4')
  ])
  t.equal(res.statusCode, 202, res.body)
  const video = res.json()
  t.match(video, {
    owner: owner.id,
    title: 'Introduction to optics',
    description: 'Lenses and mirrors',
    tags: ['physics', 'optics', 'light'],
    visibility: 'unlisted',
    status: 'uploaded',
    progress: 0,
    originalName: 'optics.mp4',
    originalSize: clip.length,
    views: 0
  })
  t.match(video.id, /^[0-9a-f]{20}$/)
  t.equal(res.headers.location, `/api/videos/${video.id}`)
  t.same(await readAll(await app.storage.get(`originals/${video.id}`)), clip, 'the stored original is the uploaded bytes')
  const jobs = await app.db.collection<Job>('jobs').find({ videoId: video.id })
  t.equal(jobs.length, 1)
  t.equal(jobs[0]!.state, 'queued')
  const get = await app.inject({ url: `/api/videos/${video.id}` })
  t.equal(get.statusCode, 200)
  t.same(get.json(), video)
})

t.test('fields may come after the file; defaults apply', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerAccount(app)
  const res = await upload(app, owner, [file(), { name: 'title', value: '  Late   title ' }])
  t.equal(res.statusCode, 202, res.body)
  t.match(res.json(), { title: 'Late title', description: '', tags: [], visibility: 'public' })
})

t.test('bad upload input is a 400 naming the field, and nothing is stored', async (t) => {
  const { app, config } = await buildTestApp(t)
  const owner = await registerAccount(app)
  const title = { name: 'title', value: 'ok' }
  const cases: Array<[string, FormPart[], RegExp]> = [
    ['no file', [title], /^file: is missing/],
    ['empty file', [title, file(Buffer.alloc(0))], /^file: is empty/],
    ['no title', [file()], /^title: is required/],
    ['blank title', [{ name: 'title', value: '   ' }, file()], /^title: must not be empty/],
    ['long title', [{ name: 'title', value: 'x'.repeat(201) }, file()], /^title: must be at most 200 characters/],
    ['long title after the file', [file(), { name: 'title', value: 'x'.repeat(201) }], /^title: must be at most 200 characters/],
    ['long description', [title, { name: 'description', value: 'd'.repeat(5001) }, file()], /^description: must be at most 5000 characters/],
    ['too many tags', [title, { name: 'tags', value: Array.from({ length: 21 }, (_, i) => `t${i}`).join(',') }, file()], /^tags: must have at most 20 tags/],
    ['too many repeated tags', [title, ...Array.from({ length: 21 }, (_, i) => ({ name: 'tags', value: `t${i}` })), file()], /^tags: must have at most 20 tags/],
    ['long tag', [title, { name: 'tags', value: `ok, ${'x'.repeat(41)}` }, file()], /^tags\[1\]: must be at most 40 characters/],
    ['bad visibility', [title, { name: 'visibility', value: 'secret' }, file()], /^visibility: must be one of public, unlisted, private/],
    ['bad visibility after the file', [title, file(), { name: 'visibility', value: 'secret' }], /^visibility: must be one of/],
    ['title twice', [title, title, file()], /^title: was sent 2 times/],
    ['unknown field', [title, { name: 'titel', value: 'x' }, file()], /^titel: is not a field of an upload/],
    ['file under another name', [title, { name: 'video', filename: 'a.mp4', content: fakeVideo() }], /^video: is a file, but the video goes in a part named "file"/],
    ['two files', [title, file(), file()], /^file: was sent twice/]
  ]
  for (const [name, parts, message] of cases) {
    const res = await upload(app, owner, parts)
    t.equal(res.statusCode, 400, `${name}: ${res.body}`)
    t.equal(res.json().code, 'LECTERN_ERR_BAD_REQUEST', name)
    t.match(res.json().message, message, name)
  }
  t.same(await storedFiles(config.dataDir), [], 'no object and no temp file left')
  t.equal(await app.db.collection('videos').countDocuments({}), 0)
  t.equal(await app.db.collection('jobs').countDocuments({}), 0)
})

t.test('an upload over UPLOAD_MAX_MB is a 413 and leaves nothing', async (t) => {
  const { app, config } = await buildTestApp(t, { UPLOAD_MAX_MB: '1' })
  const owner = await registerAccount(app)
  const res = await upload(app, owner, [{ name: 'title', value: 'big' }, file(fakeVideo(3 * 1024 * 1024))])
  t.equal(res.statusCode, 413)
  t.equal(res.json().code, 'LECTERN_ERR_PAYLOAD_TOO_LARGE')
  t.match(res.json().message, /^file: is larger than the upload limit of 1 MB \(UPLOAD_MAX_MB\)/)
  t.same(await storedFiles(config.dataDir), [])
  t.equal(await app.db.collection('videos').countDocuments({}), 0)
  const declared = await app.inject({
    method: 'POST', url: '/api/videos', payload: 'x', headers: { ...owner.auth, 'content-type': 'multipart/form-data; boundary=b', 'content-length': String(5 * 1024 * 1024 * 1024) }
  })
  t.equal(declared.statusCode, 413, 'a declared length far over the limit is refused before reading')
  t.match(declared.json().message, /the request declares 5120 MB/)
  t.equal(declared.headers.connection, 'close')
  const exact = await upload(app, owner, [{ name: 'title', value: 'exactly the limit' }, file(fakeVideo(1024 * 1024))])
  t.equal(exact.statusCode, 202, 'exactly the limit is fine')
})

t.test('what is certainly not a video is a 415', async (t) => {
  const { app, config } = await buildTestApp(t)
  const owner = await registerAccount(app)
  const cases: Array<[string, Buffer, RegExp]> = [
    ['pdf', Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(2000, 1)]), /a PDF document/],
    ['png', Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(100)]), /a PNG image/],
    ['text', Buffer.from('These are my lecture notes.\nNot a video at all.\n'.repeat(40)), /text/],
    ['playlist', Buffer.from('#EXTM3U\n#EXTINF:4,\nhttp://169.254.169.254/latest/meta-data\n'), /text/],
    ['zip', Buffer.concat([Buffer.from('504b0304', 'hex'), Buffer.alloc(600, 7)]), /ZIP archive/]
  ]
  for (const [name, content, message] of cases) {
    const res = await upload(app, owner, [{ name: 'title', value: name }, file(content, `${name}.bin`, 'application/octet-stream')])
    t.equal(res.statusCode, 415, name)
    t.equal(res.json().code, 'LECTERN_ERR_UNSUPPORTED_MEDIA', name)
    t.match(res.json().message, message, name)
  }
  t.same(await storedFiles(config.dataDir), [])
})

t.test('upload needs a signed-in caller and multipart', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerAccount(app)
  const anon = await upload(app, undefined, [{ name: 'title', value: 'x' }, file()])
  t.equal(anon.statusCode, 401)
  const json = await app.inject({ method: 'POST', url: '/api/videos', headers: owner.auth, payload: { title: 'x' } })
  t.equal(json.statusCode, 415)
  t.match(json.json().message, /multipart\/form-data/)
  const broken = await app.inject({
    method: 'POST', url: '/api/videos', headers: { ...owner.auth, 'content-type': 'multipart/form-data; boundary=xyz' }, payload: '--xyz\r\nContent-Disposition: form-data; name="title"\r\n\r\nhalf'
  })
  t.equal(broken.statusCode, 400)
  t.match(broken.json().message, /^body: is not valid multipart/)
})

t.test('reading, listing and the ownership rules', async (t) => {
  const { app } = await buildTestApp(t)
  const admin = await registerAccount(app, 'admin')
  const ann = await registerAccount(app, 'ann')
  const bo = await registerAccount(app, 'bo')
  t.equal(admin.role, 'admin')
  const pub = await uploaded(app, ann, { title: 'public one' })
  const unlisted = await uploaded(app, ann, { title: 'unlisted one', visibility: 'unlisted' })
  const priv = await uploaded(app, ann, { title: 'private one', visibility: 'private' })

  const get = (id: string, who?: Account) => app.inject({ url: `/api/videos/${id}`, headers: who?.auth ?? {} })
  t.equal((await get(pub.id)).statusCode, 200, 'public: anyone')
  t.equal((await get(unlisted.id)).statusCode, 200, 'unlisted: anyone with the id')
  t.equal((await get(priv.id)).statusCode, 404, 'private: 404 to the anonymous')
  t.equal((await get(priv.id, bo)).statusCode, 404, 'private: 404 to another user')
  t.equal((await get(priv.id, ann)).statusCode, 200, 'private: the owner')
  t.equal((await get(priv.id, admin)).statusCode, 200, 'private: an admin')
  const hidden = await get(priv.id, bo)
  const missing = await get('ffffffffffffffffffff', bo)
  t.same({ ...hidden.json(), message: hidden.json().message.replace(priv.id, '<id>') }, { ...missing.json(), message: missing.json().message.replace('ffffffffffffffffffff', '<id>') },
    'a private video answers exactly like a missing one')
  t.equal((await get('not-an-id')).statusCode, 400)
  t.match((await get('not-an-id')).json().message, /params\.id: must be a video id/)
  t.equal((await app.inject({ url: `/api/videos/${pub.id}`, headers: { authorization: 'Bearer bad' } })).statusCode, 401, 'a bad token is refused even where none is needed')

  const patch = (id: string, who: Account | undefined, payload: object) => app.inject({ method: 'PATCH', url: `/api/videos/${id}`, headers: who?.auth ?? {}, payload })
  t.equal((await patch(pub.id, undefined, { title: 'x' })).statusCode, 401)
  t.equal((await patch(pub.id, bo, { title: 'x' })).statusCode, 403, 'someone else\'s public video: 403')
  t.equal((await patch(unlisted.id, bo, { title: 'x' })).statusCode, 403)
  t.equal((await patch(priv.id, bo, { title: 'x' })).statusCode, 404, 'someone else\'s private video: 404')
  const byOwner = await patch(pub.id, ann, { title: 'Renamed', tags: ['a', 'A', 'b'], visibility: 'private' })
  t.equal(byOwner.statusCode, 200)
  t.match(byOwner.json(), { title: 'Renamed', tags: ['a', 'b'], visibility: 'private', description: '' })
  t.ok(byOwner.json().updatedAt > pub.updatedAt!, 'updatedAt moves')
  t.equal((await patch(pub.id, admin, { description: 'by the admin' })).json().description, 'by the admin')
  const badPatches: Array<[object, RegExp]> = [
    [{ title: '' }, /body\.title: must not be empty/],
    [{ title: 'x'.repeat(201) }, /body\.title: must be at most 200/],
    [{ tags: ['x'.repeat(41)] }, /body\.tags\.0: must be at most 40/],
    [{ tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, /body\.tags: must have at most 20/],
    [{ description: 'd'.repeat(5001) }, /body\.description: must be at most 5000/],
    [{ visibility: 'secret' }, /body\.visibility: must be one of/],
    [{ owner: bo.id }, /unknown field\(s\) owner/],
    [{}, /give at least one of/]
  ]
  for (const [payload, message] of badPatches) {
    const res = await patch(unlisted.id, ann, payload)
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 60))
    t.match(res.json().message, message)
  }

  // listing: own videos for users, all for admins, newest first
  const bos = await uploaded(app, bo, { title: 'bo\'s' })
  const list = async (who: Account, query = '') => (await app.inject({ url: `/api/videos${query}`, headers: who.auth })).json()
  t.same((await list(ann)).items.map((v: Video & { id: string }) => v.id), [priv.id, unlisted.id, pub.id])
  t.same((await list(bo)).items.map((v: { id: string }) => v.id), [bos.id])
  t.same((await list(admin)).items.map((v: { id: string }) => v.id), [bos.id, priv.id, unlisted.id, pub.id])
  await app.db.collection<Video>('videos').updateOne({ _id: unlisted.id }, { $set: { status: 'ready' } })
  t.same((await list(ann, '?status=ready')).items.map((v: { id: string }) => v.id), [unlisted.id])
  t.same((await list(ann, '?status=failed')).items, [])
  t.equal((await app.inject({ url: '/api/videos' })).statusCode, 401)
  const badList = await app.inject({ url: '/api/videos?status=done&limit=0', headers: ann.auth })
  t.equal(badList.statusCode, 400)
  t.match(badList.json().message, /querystring\.status: must be one of/)
  t.match((await app.inject({ url: '/api/videos?limit=101', headers: ann.auth })).json().message, /querystring\.limit: must be at most 100/)
  t.match((await app.inject({ url: '/api/videos?cursor=garbage', headers: ann.auth })).json().message, /^cursor: /)
})

t.test('listing pages with a cursor: no video skipped or repeated, even with equal times', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerAccount(app)
  const ids: string[] = []
  for (let i = 0; i < 7; i++) ids.push((await uploaded(app, owner, { title: `v${i}` })).id)
  // Equal createdAt for several videos: the id breaks the tie.
  const same = new Date('2026-01-01T00:00:00Z')
  await app.db.collection<Video>('videos').updateMany({ _id: { $in: ids.slice(0, 4) } }, { $set: { createdAt: same } })
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const res: LightMyRequestResponse = await app.inject({ url: `/api/videos?limit=3${cursor !== null ? `&cursor=${cursor}` : ''}`, headers: owner.auth })
    t.equal(res.statusCode, 200)
    const body: { items: Array<{ id: string }>, nextCursor: string | null } = res.json()
    seen.push(...body.items.map((v: { id: string }) => v.id))
    cursor = body.nextCursor
    pages++
  } while (cursor !== null && pages < 10)
  t.equal(pages, 3)
  t.same([...seen].sort(), [...ids].sort(), 'every video once')
  t.equal(new Set(seen).size, seen.length)
})

t.test('delete removes objects, cache entries and the record, and cancels the transcode', async (t) => {
  const { app, config } = await buildTestApp(t)
  await registerAccount(app, 'admin')
  const owner = await registerAccount(app)
  const other = await registerAccount(app)
  const video = await uploaded(app, owner)
  const keep = await uploaded(app, owner, { title: 'kept' })
  const prefix = `videos/${video.id}/v1/`
  await app.storage.put(`${prefix}master.m3u8`, Buffer.from('#EXTM3U\n'))
  await app.storage.put(`${prefix}720p/segment-00000.ts`, Buffer.alloc(1000, 0x47))
  await app.cache.set(`${prefix}720p/segment-00000.ts`, Buffer.alloc(1000, 0x47))
  await app.cache.set(`videos/${keep.id}/v1/master.m3u8`, Buffer.from('#EXTM3U\n'))
  await app.db.collection<Job>('jobs').updateOne({ videoId: video.id }, { $set: { state: 'running' } })

  t.equal((await app.inject({ method: 'DELETE', url: `/api/videos/${video.id}` })).statusCode, 401)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/videos/${video.id}`, headers: other.auth })).statusCode, 403)
  const del = await app.inject({ method: 'DELETE', url: `/api/videos/${video.id}`, headers: owner.auth })
  t.equal(del.statusCode, 204)
  t.equal(del.body, '')
  t.equal((await app.inject({ url: `/api/videos/${video.id}`, headers: owner.auth })).statusCode, 404)
  t.same((await app.storage.list(`videos/${video.id}/`)), [])
  t.same(await storedFiles(config.dataDir), [`originals/${keep.id}`], 'only the other video\'s original is left')
  t.equal(await app.cache.get(`${prefix}720p/segment-00000.ts`), undefined, 'cache entry gone')
  t.ok(await app.cache.get(`videos/${keep.id}/v1/master.m3u8`), 'other videos\' cache entries stay')
  const jobs = await app.db.collection<Job>('jobs').find({ videoId: video.id })
  t.same(jobs.map((j) => j.state), ['cancelled'])
  t.equal((await app.inject({ method: 'DELETE', url: `/api/videos/${video.id}`, headers: owner.auth })).statusCode, 404, 'a second delete is a 404')
})
