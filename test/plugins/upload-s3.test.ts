import { connect } from 'node:net'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import { buildApp } from '../../src/app.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { testConfig } from '../helpers/config.js'
import { s3ServerFor } from '../helpers/s3-server.js'
import { registerAccount } from './accounts.js'
import { fakeVideo, multipartBody, MP4_HEAD } from './multipart-body.js'

// The same upload guarantees with objects on S3 (s3rver): the bytes arrive intact, and a refused
// or abandoned upload leaves no object.

async function readAll (stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function until (check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return await check()
}

const silent = pino({ level: 'silent' }) as unknown as FastifyBaseLogger
const originals = async (app: FastifyInstance) => (await app.storage.list('originals/')).map((o) => o.key)

/** The parts s3rver has fully received for multipart uploads in progress (its own layout). */
async function receivedParts (directory: string, bucket: string): Promise<string[]> {
  const uploads = join(directory, bucket, '._S3rver_uploads')
  const found: string[] = []
  for (const upload of await readdir(uploads).catch(() => [] as string[])) {
    for (const name of await readdir(join(uploads, upload)).catch(() => [] as string[])) {
      if (name.endsWith('.md5')) found.push(`${upload}/${name.slice(0, -4)}`)
    }
  }
  return found
}

t.test('uploads to S3: intact, and nothing left by a 413, a 400 or a vanished client', async (t) => {
  const s3 = await s3ServerFor(t)
  // The route's clean-up of a failed upload is watched, so the test waits for it rather than a while.
  const cleaned: string[] = []
  const config = await testConfig(t, { ...s3.env, UPLOAD_MAX_MB: '16' })
  const s3Store = await createObjectStore(config, silent)
  t.teardown(() => s3Store.close())
  const watched: ObjectStore = {
    kind: s3Store.kind,
    put: (...args) => s3Store.put(...args),
    get: (...args) => s3Store.get(...args),
    head: (key) => s3Store.head(key),
    async delete (key) {
      try {
        await s3Store.delete(key)
      } finally {
        cleaned.push(key)
      }
    },
    deletePrefix: (prefix) => s3Store.deletePrefix(prefix),
    list: (prefix) => s3Store.list(prefix),
    probe: () => s3Store.probe(),
    close: () => s3Store.close()
  }
  // Above the S3 store's 8 MiB part size, so a vanishing client can be caught mid-put.
  const app = await buildApp(config, { logger: false, storage: watched })
  t.teardown(() => app.close())
  t.equal(app.storage.kind, 's3')
  const owner = await registerAccount(app)

  const content = fakeVideo(1536 * 1024)
  const ok = multipartBody([{ name: 'title', value: 'to S3' }, { name: 'file', filename: 'a.mp4', content }])
  const res = await app.inject({ method: 'POST', url: '/api/videos', payload: ok.payload, headers: { ...ok.headers, ...owner.auth } })
  t.equal(res.statusCode, 202, res.body)
  const id = res.json().id
  t.same(await readAll(await app.storage.get(`originals/${id}`)), content, 'stored byte for byte')

  const big = multipartBody([{ name: 'title', value: 'too big' }, { name: 'file', filename: 'b.mp4', content: fakeVideo(17 * 1024 * 1024) }])
  const tooBig = await app.inject({ method: 'POST', url: '/api/videos', payload: big.payload, headers: { ...big.headers, ...owner.auth } })
  t.equal(tooBig.statusCode, 413)

  const late = multipartBody([{ name: 'file', filename: 'c.mp4', content: fakeVideo() }, { name: 'visibility', value: 'nope' }])
  const badLate = await app.inject({ method: 'POST', url: '/api/videos', payload: late.payload, headers: { ...late.headers, ...owner.auth } })
  t.equal(badLate.statusCode, 400)
  t.same(await originals(app), [`originals/${id}`], 'neither the 413 nor the 400 left an object')

  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const boundary = 'cut'
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\ncut\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.mp4"\r\nContent-Type: video/mp4\r\n\r\n`)
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  socket.write(`POST /api/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${owner.token}\r\n` +
    `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + 14 * 1024 * 1024}\r\n\r\n`)
  socket.write(Buffer.concat([head, MP4_HEAD]))
  const chunk = randomBytes(256 * 1024)
  for (let sent = 0; sent < 10 * 1024 * 1024; sent += chunk.length) {
    if (!socket.write(chunk)) await once(socket, 'drain')
  }
  // Ten of fourteen MiB sent: the first 8 MiB part must have reached the bucket before we vanish.
  t.ok(await until(async () => (await receivedParts(s3.directory, s3.bucket)).length > 0, 10_000), 'storing had begun: s3rver holds the first part of the upload')
  socket.destroy()

  t.ok(await until(async () => cleaned.some((key) => key.startsWith('originals/')), 10_000), 'the route cleaned up after the vanished client')
  t.same(await originals(app), [`originals/${id}`], 'only the completed upload is in the bucket')
  t.equal(await app.db.collection('videos').countDocuments({}), 1)
})
