import t from 'tap'
import http from 'node:http'
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { registerAccount, type Account } from '../plugins/accounts.js'
import { fakeVideo, multipartBody } from '../plugins/multipart-body.js'

// Per-account quotas: storage, uploads at once, videos waiting for a transcode. A refusal is a 4xx
// naming the limit, given before any byte of the upload is stored. Admins have none.

const KB = 1024

async function upload (app: FastifyInstance, who: Account, size: number) {
  const { payload, headers } = multipartBody([{ name: 'title', value: 'A lecture' }, { name: 'file', filename: 'a.mp4', content: fakeVideo(size) }])
  return await app.inject({ method: 'POST', url: '/api/videos', headers: { ...headers, ...who.auth }, payload })
}

const originals = async (app: FastifyInstance) => (await app.storage.list('originals/')).length

t.test('storage: an upload that would pass QUOTA_STORAGE_MB is refused with 413 before a byte is stored', async (t) => {
  const { app } = await buildTestApp(t, { QUOTA_STORAGE_MB: '1', QUOTA_JOBS: '100' })
  const admin = await registerAccount(app, 'admin')
  const teacher = await registerAccount(app, 'teacher')
  t.equal((await upload(app, teacher, 600 * KB)).statusCode, 202)
  t.equal(await originals(app), 1)
  const refused = await upload(app, teacher, 600 * KB)
  t.equal(refused.statusCode, 413)
  t.equal(refused.json().code, 'LECTERN_ERR_PAYLOAD_TOO_LARGE')
  t.match(refused.json().message, /^storage quota: your videos use 0\.6 MB of your 1\.0 MB \(QUOTA_STORAGE_MB\); this upload is 0\.6 MB; delete a video or ask an admin$/)
  t.equal(refused.headers.connection, 'close', 'the rest of the body is not read')
  t.equal(await originals(app), 1, 'nothing of it was stored')
  t.equal((await upload(app, teacher, 300 * KB)).statusCode, 202, 'what still fits is accepted')
  t.equal((await upload(app, admin, 2000 * KB)).statusCode, 202, 'admins have no quota')

  // A body without a declared length is cut where the quota ends, and nothing of it stays.
  const { payload, headers } = multipartBody([{ name: 'title', value: 'Chunked' }, { name: 'file', filename: 'a.mp4', content: fakeVideo(300 * KB) }])
  const chunked = await app.inject({ method: 'POST', url: '/api/videos', headers: { ...headers, ...teacher.auth }, payload: Readable.from([payload]) })
  t.equal(chunked.statusCode, 413, chunked.body)
  t.match(chunked.json().message, /^storage quota: your videos use 0\.9 MB of your 1\.0 MB \(QUOTA_STORAGE_MB\)/)
  t.equal(await originals(app), 3, 'nothing of it was stored')

  // A resumable upload is checked when it is created, by its Upload-Length.
  const tus = await app.inject({ method: 'POST', url: '/api/uploads', headers: { ...teacher.auth, 'tus-resumable': '1.0.0', 'upload-length': String(600 * KB) } })
  t.equal(tus.statusCode, 413)
  t.match(tus.json().message, /QUOTA_STORAGE_MB/)
})

t.test('transcodes: QUOTA_JOBS videos waiting for or in a transcode at most; 429 names the limit', async (t) => {
  // WORKER=off (the tests' default): uploads stay waiting for a transcode.
  const { app } = await buildTestApp(t, { QUOTA_JOBS: '2' })
  await registerAccount(app, 'admin')
  const teacher = await registerAccount(app, 'teacher')
  for (let i = 0; i < 2; i++) t.equal((await upload(app, teacher, 64 * KB)).statusCode, 202)
  const refused = await upload(app, teacher, 64 * KB)
  t.equal(refused.statusCode, 429)
  t.match(refused.json().message, /^transcode quota: 2 of your videos are waiting for or in a transcode, the most at once \(QUOTA_JOBS=2\)/)
  t.equal(await originals(app), 2)
  const other = await registerAccount(app, 'other')
  t.equal((await upload(app, other, 64 * KB)).statusCode, 202, 'another account has its own')
})

t.test('uploads at once: QUOTA_UPLOADS; the next is refused while one is in flight, and accepted after', async (t) => {
  const { app } = await buildTestApp(t, { QUOTA_UPLOADS: '1' })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  await registerAccount(app, 'admin')
  const teacher = await registerAccount(app, 'teacher')
  const { payload, headers } = multipartBody([{ name: 'title', value: 'Slow' }, { name: 'file', filename: 'a.mp4', content: fakeVideo(256 * KB) }])
  // The first upload sends half its body, then waits.
  const first = new Promise<number>((resolve, reject) => {
    const req = http.request(base + '/api/videos', { method: 'POST', headers: { ...headers, ...teacher.auth, 'content-length': String(payload.length) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    })
    req.on('error', reject)
    req.write(payload.subarray(0, payload.length / 2))
    setTimeout(() => req.end(payload.subarray(payload.length / 2)), 1000)
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const refused = await upload(app, teacher, 64 * KB)
  t.equal(refused.statusCode, 429)
  t.match(refused.json().message, /^upload quota: you have 1 upload in progress, the most at once \(QUOTA_UPLOADS=1\)/)
  t.equal(await first, 202)
  t.equal((await upload(app, teacher, 64 * KB)).statusCode, 202, 'once it is done, the next goes')
})
