import { request } from 'node:http'
import { connect } from 'node:net'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { registerAccount } from './accounts.js'
import { MP4_HEAD } from './multipart-body.js'
import { storedFiles } from './stored-files.js'

// Uploads over real sockets: what inject cannot show (a client vanishing mid-body, memory while
// hundreds of megabytes stream through).

const BOUNDARY = '----lecternsocket'
const preamble = (title: string) => Buffer.from(
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\n${title}\r\n` +
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n`)
const epilogue = Buffer.from(`\r\n--${BOUNDARY}--\r\n`)

async function until (check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return await check()
}

t.test('a client that disconnects mid-upload leaves nothing behind', async (t) => {
  const { app, config } = await buildTestApp(t)
  const owner = await registerAccount(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }

  const head = preamble('cut short')
  const total = head.length + 50 * 1024 * 1024 + epilogue.length
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(`POST /api/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${owner.token}\r\n` +
    `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${total}\r\n\r\n`)
  socket.write(head)
  socket.write(MP4_HEAD)
  const chunk = randomBytes(64 * 1024)
  for (let i = 0; i < 64; i++) {
    if (!socket.write(chunk)) await once(socket, 'drain')
  }
  // Half a body is on its way: the store must be writing it before we vanish.
  t.ok(await until(async () => (await storedFiles(config.dataDir)).length > 0, 5000), 'the upload was being stored')
  socket.destroy()

  t.ok(await until(async () => (await storedFiles(config.dataDir)).length === 0, 10_000), 'no object and no temp file left')
  t.same(await storedFiles(config.dataDir), [])
  t.equal(await app.db.collection('videos').countDocuments({}), 0, 'no video record')
  t.equal(await app.db.collection('jobs').countDocuments({}), 0, 'no job')
  const health = await app.inject({ url: '/health/live' })
  t.equal(health.statusCode, 200, 'the server carries on')
})

t.test('a 200 MB upload streams through with flat memory', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerAccount(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }

  const size = 200 * 1024 * 1024
  const head = preamble('two hundred megabytes')
  const chunk = randomBytes(256 * 1024)
  chunk.set(MP4_HEAD, 0)

  const baseline = process.memoryUsage()
  let peakRss = baseline.rss
  let peakHeap = baseline.heapUsed
  let peakBuffers = baseline.arrayBuffers
  const sampler = setInterval(() => {
    const m = process.memoryUsage()
    peakRss = Math.max(peakRss, m.rss)
    peakHeap = Math.max(peakHeap, m.heapUsed)
    peakBuffers = Math.max(peakBuffers, m.arrayBuffers)
  }, 20)
  t.teardown(() => clearInterval(sampler))

  const started = Date.now()
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/videos',
    headers: {
      authorization: `Bearer ${owner.token}`,
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      'content-length': head.length + size + epilogue.length
    }
  })
  const response = once(req, 'response')
  req.write(head)
  // Generated on the fly: the same 256 KiB written 800 times, with backpressure.
  for (let sent = 0; sent < size; sent += chunk.length) {
    if (!req.write(chunk)) await once(req, 'drain')
  }
  req.end(epilogue)
  const [res] = await response as [import('node:http').IncomingMessage]
  const body: Buffer[] = []
  for await (const c of res) body.push(c as Buffer)
  clearInterval(sampler)
  const seconds = (Date.now() - started) / 1000

  t.equal(res.statusCode, 202, Buffer.concat(body).toString())
  const video = JSON.parse(Buffer.concat(body).toString())
  t.equal(video.originalSize, size)
  t.equal((await app.storage.head(`originals/${video.id}`)).size, size, 'all 200 MB stored')

  const mb = (n: number) => Math.round(n / 1024 / 1024)
  const growth = { rss: mb(peakRss - baseline.rss), heapUsed: mb(peakHeap - baseline.heapUsed), arrayBuffers: mb(peakBuffers - baseline.arrayBuffers) }
  t.comment(`200 MB in ${seconds.toFixed(1)} s (${(200 / seconds).toFixed(0)} MB/s); peak growth over baseline: rss ${growth.rss} MB, heap ${growth.heapUsed} MB, buffers ${growth.arrayBuffers} MB`)
  // Client and server share this process, so both ends' buffers count; holding the upload
  // would add 200 MB at least.
  t.ok(growth.rss < 100, `rss grew ${growth.rss} MB, far below the 200 MB uploaded`)
  t.ok(growth.heapUsed + growth.arrayBuffers < 80, `heap and buffers grew ${growth.heapUsed + growth.arrayBuffers} MB`)
})
