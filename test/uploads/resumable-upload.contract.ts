import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../src/config.js'
import { registerAccount, type Account } from '../plugins/accounts.js'
import { fakeVideo, MP4_HEAD } from '../plugins/multipart-body.js'
import {
  createUpload, headUpload, listeningApp, patchUpload, send, settledOffset, startPatch, TUS, type TusTarget
} from './tus-client.js'

// What every store must do for resumable uploads (fs under DATA_DIR, S3), over real sockets.
// Each backend's test file runs these with its own set-up.

export interface Backend {
  name: string
  /** Environment for the app (S3 settings, limits). */
  env: (t: Test) => Promise<Record<string, string>>
}

export interface Running {
  app: FastifyInstance
  config: Config
  origin: string
  /** Every stored thing an upload could leave: objects and temp files, tus files, records. */
  leftovers: () => Promise<string[]>
}

async function walk (root: string): Promise<string[]> {
  const out: string[] = []
  async function go (dir: string): Promise<void> {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    for (const e of entries) {
      if (e.isDirectory()) await go(join(dir, e.name))
      else out.push(relative(root, join(dir, e.name)))
    }
  }
  await go(root)
  return out.sort()
}

export async function start (t: Test, backend: Backend, env: Record<string, string> = {}, patch: Partial<Config> = {}): Promise<Running> {
  const { app, config, origin } = await listeningApp(t, { ...await backend.env(t), ...env }, patch)
  const leftovers = async () => {
    const records = (await app.db.collection('uploads').find({})).map((r) => `record:${String(r._id)}`)
    if (app.storage.kind === 's3') return [...(await app.storage.list('')).map((o) => o.key), ...records]
    const objects = await walk(join(config.dataDir, 'objects'))
    const tus = (await walk(join(config.dataDir, 'uploads'))).map((f) => `uploads/${f}`)
    return [...objects, ...tus, ...records]
  }
  return { app, config, origin, leftovers }
}

async function readAll (stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const idOf = (url: string) => new URL(url).pathname.split('/').pop()!

async function signIn (app: FastifyInstance, origin: string, name = 'teacher'): Promise<{ account: Account, target: TusTarget }> {
  const account = await registerAccount(app, name)
  return { account, target: { origin, token: account.token } }
}

/** The upload became a video just as a multipart one does: record, job, and the original byte for byte. */
async function assertVideo (t: Test, app: FastifyInstance, account: Account, id: string, file: Buffer, title: string): Promise<void> {
  const res = await app.inject({ url: `/api/videos/${id}`, headers: account.auth })
  t.equal(res.statusCode, 200, 'the video exists', { body: res.body })
  const video = res.json()
  t.match(video, { id, owner: account.id, title, status: 'uploaded', originalSize: file.length, originalName: 'lecture.mp4', visibility: 'unlisted', tags: ['optics', 'year 2'] })
  t.equal(await app.db.collection('jobs').countDocuments({ videoId: id }), 1, 'one transcode job is queued')
  const stored = await readAll(await app.storage.get(`originals/${id}`))
  t.equal(stored.length, file.length, 'the original has every byte')
  t.ok(stored.equals(file), 'the original is byte-identical to the file')
}

const FIELDS = { title: 'Geometric optics', description: 'Lenses and mirrors', tags: 'optics, year 2', visibility: 'unlisted', filename: 'lecture.mp4', filetype: 'video/mp4' }

export function resumableUploadContract (t: Test, backend: Backend): void {
  t.test(`${backend.name}: cut mid-chunk, between chunks and mid-chunk again; resumed from the server's offset; byte-identical`, async (t) => {
    const { app, origin, leftovers } = await start(t, backend)
    const { account, target } = await signIn(app, origin)
    // Past one 8 MiB S3 part, so parts and the pending tail are both exercised.
    const file = fakeVideo(11 * 1024 * 1024 + 12345)
    const created = await createUpload(target, file.length, FIELDS)
    t.equal(created.status, 201, created.body)
    const url = created.headers.location!
    t.match(url, new RegExp(`^${origin}/api/uploads/[0-9a-f]{20}$`), 'Location is the upload URL on this server')
    const id = idOf(url)

    // 1. A PATCH that declares the whole file and is cut after 1.5 MB: the bytes that arrived stay.
    const first = await startPatch(target, url, 0, file.length, file.subarray(0, 1536 * 1024))
    await new Promise((resolve) => setTimeout(resolve, 300))
    first.destroy()
    const o1 = await settledOffset(target, url)
    t.ok(o1 > 0 && o1 <= 1536 * 1024, `after the first cut the server holds ${o1} bytes`)

    // 2. A whole chunk from there, then (as after a reload) ask where it stands.
    const chunkEnd = 9 * 1024 * 1024
    const second = await patchUpload(target, url, o1, file.subarray(o1, chunkEnd))
    t.equal(second.status, 204, second.body)
    t.equal(second.headers['upload-offset'], String(chunkEnd))
    t.equal(Number((await headUpload(target, url)).headers['upload-offset']), chunkEnd, 'between chunks: HEAD says where to go on')

    // A PATCH from a stale offset is refused and changes nothing.
    const stale = await patchUpload(target, url, o1, file.subarray(o1, o1 + 1000))
    t.equal(stale.status, 409, 'a PATCH at the wrong offset is a 409')
    t.match(stale.json(), { code: 'LECTERN_ERR_UPLOAD_OFFSET', message: /HEAD/ })

    // 3. Cut again, mid-chunk.
    const third = await startPatch(target, url, chunkEnd, file.length - chunkEnd, file.subarray(chunkEnd, chunkEnd + 700 * 1024))
    await new Promise((resolve) => setTimeout(resolve, 300))
    third.destroy()
    const o3 = await settledOffset(target, url)
    t.ok(o3 >= chunkEnd && o3 <= chunkEnd + 700 * 1024, `after the second cut the server holds ${o3} bytes`)
    t.equal(await app.db.collection('videos').countDocuments({}), 0, 'no video before the last byte')

    // Asked for JSON, the last PATCH answers as the multipart upload does: 202 with the video.
    const last = await send(url, 'PATCH', {
      ...TUS, authorization: `Bearer ${target.token}`, accept: 'application/json', 'upload-offset': o3,
      'content-type': 'application/offset+octet-stream', 'content-length': file.length - o3
    }, file.subarray(o3))
    t.equal(last.status, 202, last.body)
    t.equal(last.headers['upload-offset'], String(file.length))
    t.equal(last.headers.location, `/api/videos/${id}`)
    t.match(last.headers['content-type'], /^application\/json/)
    t.match(last.json(), { id, title: FIELDS.title, status: 'uploaded', originalSize: file.length, originalName: 'lecture.mp4' }, 'the 202 view of the video')
    await assertVideo(t, app, account, id, file, FIELDS.title)

    const after = await headUpload(target, url)
    t.equal(after.status, 200)
    t.equal(after.headers['upload-offset'], String(file.length), 'a finished upload reports every byte (a client whose last answer was lost learns it is done)')
    const again = await patchUpload(target, url, file.length, Buffer.alloc(0))
    t.equal(again.status, 204, 'a repeated final PATCH is harmless')
    t.equal(await app.db.collection('videos').countDocuments({}), 1, 'and makes no second video')
    const terminate = await send(url, 'DELETE', { ...TUS, ...account.auth })
    t.equal(terminate.status, 400, 'a finished upload cannot be terminated')
    t.match(terminate.json().message, /delete the video instead/)

    // The sweep, once the upload has expired, removes only the tus bookkeeping.
    t.equal(await app.resumableUploads.sweep(new Date(Date.now() + 25 * 3600 * 1000)), 1)
    t.same(await leftovers(), [`originals/${id}`], 'only the original is left once the sweep has run')
    await assertVideo(t, app, account, id, file, FIELDS.title)
  })

  t.test(`${backend.name}: a video deleted soon after its upload leaves nothing once the sweep has run`, async (t) => {
    const { app, origin, leftovers } = await start(t, backend)
    const { account, target } = await signIn(app, origin)
    const file = fakeVideo(300 * 1024)
    const url = (await createUpload(target, file.length, FIELDS)).headers.location!
    t.equal((await patchUpload(target, url, 0, file)).status, 204)
    const id = idOf(url)
    t.equal((await app.inject({ method: 'DELETE', url: `/api/videos/${id}`, headers: account.auth })).statusCode, 204, 'the owner deletes the video')
    t.equal(await app.resumableUploads.sweep(), 1, 'the next sweep (long before the upload expires) removes its upload')
    t.same(await leftovers(), [], 'no bytes are left')
  })

  t.test(`${backend.name}: creation-with-upload, then a second client's PATCH on the same upload is refused, never interleaved`, async (t) => {
    const { app, origin } = await start(t, backend)
    const { account, target } = await signIn(app, origin)
    const file = fakeVideo(3 * 1024 * 1024)
    const other = Buffer.concat([MP4_HEAD, Buffer.alloc(file.length - MP4_HEAD.length, 0x5a)])

    const head = file.subarray(0, 256 * 1024)
    const created = await send(`${origin}/api/uploads`, 'POST', {
      ...TUS, ...account.auth, 'upload-length': file.length, 'upload-metadata': Object.entries(FIELDS).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(','),
      'content-type': 'application/offset+octet-stream', 'content-length': head.length
    }, head)
    t.equal(created.status, 201, created.body)
    t.equal(created.headers['upload-offset'], String(head.length), 'the first bytes came with the POST')
    const url = created.headers.location!

    // Client A is mid-PATCH (its body half sent, the connection open) when client B PATCHes too.
    const a = await startPatch(target, url, head.length, file.length - head.length, file.subarray(head.length, 1024 * 1024))
    const aClosed = new Promise<string>((resolve) => {
      let text = ''
      a.on('data', (d: Buffer) => { text += d.toString('latin1') })
      a.on('close', () => resolve(text))
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const b = await patchUpload(target, url, head.length, other.subarray(head.length))
    t.equal(b.status, 409, `B is refused once A has let go (${b.body})`)
    const aAnswer = await aClosed
    t.match(aAnswer, /^HTTP\/1\.1 204/, 'A was asked to stop: what it had sent is kept, and it is told its offset')
    const offset = Number(/upload-offset: (\d+)/i.exec(aAnswer)?.[1])
    t.equal(await settledOffset(target, url), offset)
    t.ok(offset > head.length, `A's bytes up to ${offset} were stored`)

    const done = await patchUpload(target, url, offset, file.subarray(offset))
    t.equal(done.status, 204, done.body)
    await assertVideo(t, app, account, idOf(url), file, FIELDS.title)
  })

  t.test(`${backend.name}: only its owner touches an upload`, async (t) => {
    const { app, origin } = await start(t, backend)
    const { account, target } = await signIn(app, origin)
    const { account: stranger } = await signIn(app, origin, 'stranger')
    const file = fakeVideo(200 * 1024)
    const url = (await createUpload(target, file.length, FIELDS)).headers.location!
    t.equal((await patchUpload(target, url, 0, file.subarray(0, 1000))).status, 204)

    const asStranger = { origin, token: stranger.token }
    const head = await headUpload(asStranger, url)
    t.equal(head.status, 403, 'HEAD by another user')
    t.equal(head.headers['upload-offset'], undefined, 'and no offset is given away')
    const patch = await patchUpload(asStranger, url, 1000, file.subarray(1000))
    t.equal(patch.status, 403, 'PATCH by another user')
    t.match(patch.json(), { code: 'LECTERN_ERR_FORBIDDEN', message: /belongs to another user/ })
    t.equal((await send(url, 'DELETE', { ...TUS, ...stranger.auth })).status, 403, 'DELETE by another user')
    t.equal((await send(url, 'HEAD', { ...TUS })).status, 401, 'HEAD without a token')
    t.equal((await send(url, 'PATCH', { ...TUS, 'upload-offset': 1000, 'content-type': 'application/offset+octet-stream' }, Buffer.from('x'))).status, 401, 'PATCH without a token')
    const anonymous = await send(`${origin}/api/uploads`, 'POST', { ...TUS, 'upload-length': 10 })
    t.equal(anonymous.status, 401, 'creating without a token')
    t.match(anonymous.json(), { code: 'LECTERN_ERR_UNAUTHORIZED' })
    t.equal(Number((await headUpload(target, url)).headers['upload-offset']), 1000, 'the upload is untouched')

    const options = await send(`${origin}/api/uploads`, 'OPTIONS', {})
    t.equal(options.status, 204, 'OPTIONS needs no token')
    t.match(options.headers['tus-extension'], /creation.*termination.*expiration/)
    t.notMatch(options.headers['tus-extension'], /defer-length/)
    t.equal(options.headers['tus-max-size'], String(4096 * 1024 * 1024), 'and tells the size limit (UPLOAD_MAX_MB)')

    const cancel = await send(url, 'DELETE', { ...TUS, ...account.auth })
    t.equal(cancel.status, 204, 'the owner cancels (terminates) it')
    t.equal((await headUpload(target, url)).status, 404, 'and it is gone')
  })

  t.test(`${backend.name}: bad metadata, oversize, empty, non-video and expired uploads get a clear 4xx and leave nothing`, async (t) => {
    const expiryMs = 2000
    const { app, origin, leftovers } = await start(t, backend, { UPLOAD_MAX_MB: '2' }, { uploadExpiryMs: expiryMs })
    const { target } = await signIn(app, origin)

    const refused = async (status: number, field: RegExp, answer: Awaited<ReturnType<typeof send>>, what: string) => {
      t.equal(answer.status, status, what)
      t.match(answer.headers['content-type'], /^application\/json/)
      t.match(answer.json(), { statusCode: status, message: field }, `${what}: ${answer.body}`)
    }
    await refused(400, /title: is required/, await createUpload(target, 1000, { filename: 'a.mp4' }), 'no title')
    await refused(400, /visibility: must be one of public, unlisted, private/, await createUpload(target, 1000, { title: 'x', visibility: 'everyone' }), 'bad visibility')
    await refused(400, /tags: must have at most 20 tags/, await createUpload(target, 1000, { title: 'x', tags: Array.from({ length: 21 }, (_, i) => `t${i}`).join(',') }), 'too many tags')
    await refused(400, /title: must be at most 200 characters/, await createUpload(target, 1000, { title: 'x'.repeat(201) }), 'title too long')
    await refused(400, /unknown key "owner"/, await createUpload(target, 1000, { title: 'x', owner: 'someone-else' }), 'a key Lectern does not take')
    await refused(413, /upload limit of 2 MB \(UPLOAD_MAX_MB\)/, await createUpload(target, 3 * 1024 * 1024, FIELDS), 'Upload-Length over UPLOAD_MAX_MB')
    await refused(400, /file: is empty/, await createUpload(target, 0, FIELDS), 'an empty file')
    await refused(400, /Upload-Length: is required/, await send(`${origin}/api/uploads`, 'POST', { ...TUS, authorization: `Bearer ${target.token}`, 'upload-defer-length': 1 }), 'a deferred length')
    t.same(await leftovers(), [], 'no refused creation stored anything')

    // A text file named .mp4: refused at its first bytes, and its upload removed.
    const text = Buffer.from('Lecture notes\nThese are not a video.\n'.repeat(3000))
    const notVideo = (await createUpload(target, text.length, { title: 'notes', filename: 'notes.mp4' })).headers.location!
    await refused(415, /looks like text, not a video/, await patchUpload(target, notVideo, 0, text), 'a text file')
    t.equal((await headUpload(target, notVideo)).status, 404, 'the refused upload is gone')
    // A PDF sent with the POST (creation-with-upload).
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(4000, 0x20)])
    const pdfAnswer = await send(`${origin}/api/uploads`, 'POST', {
      ...TUS, authorization: `Bearer ${target.token}`, 'upload-length': pdf.length, 'upload-metadata': `title ${Buffer.from('slides').toString('base64')}`,
      'content-type': 'application/offset+octet-stream', 'content-length': pdf.length
    }, pdf)
    await refused(415, /looks like a PDF document/, pdfAnswer, 'a PDF in the POST')
    // More bytes than Upload-Length said.
    const small = fakeVideo(1000)
    const over = (await createUpload(target, small.length, FIELDS)).headers.location!
    const overAnswer = await patchUpload(target, over, 0, Buffer.concat([small, Buffer.alloc(10)]))
    t.equal(overAnswer.status, 413, 'a body past Upload-Length')
    t.equal(Number((await headUpload(target, over)).headers['upload-offset']), 0, 'and none of it was stored')
    t.equal((await send(over, 'DELETE', { ...TUS, authorization: `Bearer ${target.token}` })).status, 204)
    t.same(await leftovers(), [], 'nothing is left by a refused upload')

    // Abandoned half-way: past UPLOAD_EXPIRY_HOURS it is refused with 410, and the sweep removes it.
    const file = fakeVideo(1024 * 1024)
    const abandoned = (await createUpload(target, file.length, FIELDS)).headers.location!
    const half = await patchUpload(target, abandoned, 0, file.subarray(0, 512 * 1024))
    t.equal(half.status, 204)
    t.ok(half.headers['upload-expires'], 'the client is told when it expires')
    t.not(await leftovers(), [], 'the half upload is stored meanwhile')
    await new Promise((resolve) => setTimeout(resolve, expiryMs + 200))
    await refused(410, /expired \(UPLOAD_EXPIRY_HOURS\)/, await patchUpload(target, abandoned, 512 * 1024, file.subarray(512 * 1024)), 'PATCH after expiry')
    t.equal((await headUpload(target, abandoned)).status, 410, 'HEAD after expiry')
    t.equal(await app.resumableUploads.sweep(), 1, 'the sweep removes it')
    t.equal((await headUpload(target, abandoned)).status, 404, 'then it is unknown')
    t.same(await leftovers(), [], 'and its bytes are gone')
    t.equal(await app.db.collection('videos').countDocuments({}), 0, 'no video was made')
  })
}
