import t from 'tap'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { FsObjectStore } from '../../src/storage/fs-object-store.js'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { publishVideo } from './fixtures.js'
import { request } from './http.js'

// With an L1 too small to keep a 1 MiB chunk and no Redis, filling chunks would only copy bytes:
// after one fill shows that, single-range misses are piped straight from storage.

const MiB = 1024 * 1024
const SIZE = 8 * MiB + 777
const bytes = randomBytes(SIZE)

const dir = await tempDir(t)
const fs = await FsObjectStore.open({ root: join(dir, 'objects') })
/** Every storage stream opened, with the bytes it has produced (counted at push, whatever the stream's type). */
const opened: Array<{ stream: Readable, bytes: number }> = []
const storage: ObjectStore = Object.assign(Object.create(fs) as ObjectStore, {
  async get (key: string, options?: Parameters<ObjectStore['get']>[1]) {
    const stream = await fs.get(key, options)
    const entry = { stream, bytes: 0 }
    const push = stream.push.bind(stream)
    stream.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk !== null && chunk !== undefined) entry.bytes += (chunk as Buffer).length
      return push(chunk, encoding)
    }
    opened.push(entry)
    return stream
  }
})

/** Polls until check() holds, or fails with what it waited for. */
async function until (what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
const { app } = await buildTestApp(t, { CACHE_MEMORY_MB: '1' }, { storage })
const { video } = await publishVideo(app, new Map([['progressive.mp4', bytes]]))
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const path = `/stream/${video._id}`

t.test('after one fill that the cache could not keep, ranges are piped from storage, byte-exact', async (t) => {
  const first = await request(base, path, { headers: { range: 'bytes=10-20' } })
  t.ok(first.body.equals(bytes.subarray(10, 21)))
  t.equal(app.cache.stats().originReads, 1, 'the first miss filled a chunk')
  // The answer can end before the rest of its chunk has arrived; wait for the fill to finish.
  await until('the first fill to finish', () => (app.cache.stats() as { inFlight?: number }).inFlight === 0)
  for (const [start, end] of [[MiB - 5, 3 * MiB + 5], [100, 100], [SIZE - 1000, SIZE - 1], [0, SIZE - 1]]) {
    const r = await request(base, path, { headers: { range: `bytes=${start}-${end}` } })
    t.equal(r.status, 206)
    t.equal(r.headers['content-range'], `bytes ${start}-${end}/${SIZE}`)
    t.ok(r.body.equals(bytes.subarray(start!, end! + 1)), `bytes ${start}-${end}`)
  }
  const full = await request(base, path)
  t.ok(full.body.equals(bytes), 'a full GET too')
  t.equal(full.headers['content-length'], String(SIZE))
  t.equal(app.cache.stats().originReads, 1, 'no further fills: the bytes came straight from storage')
  const multi = await request(base, path, { headers: { range: 'bytes=0-1,5000000-5000001' } })
  t.equal(multi.status, 206, 'several ranges still work (through chunks)')
  t.match(multi.headers['content-type'], /^multipart\/byteranges/)
})

t.test('a client that disconnects releases its storage stream at once', async (t) => {
  const before = opened.length
  const socket = net.connect((app.server.address() as net.AddressInfo).port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
  await new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.pause()
  await until('a storage stream opened for the request', () => opened.length > before)
  const entry = opened[before]!
  // Stalled: the server stops reading storage once the socket's buffers are full (no growth for 300 ms).
  let last = -1
  let stableSince = Date.now()
  await until('the storage reads to stop while the client does not read', () => {
    if (entry.bytes !== last) { last = entry.bytes; stableSince = Date.now() }
    return Date.now() - stableSince >= 300
  })
  t.ok(entry.bytes > 0, `the stream read ${entry.bytes} bytes`)
  t.ok(entry.bytes < SIZE, `a paused client holds back the storage read (${entry.bytes} of ${SIZE} bytes read)`)
  t.notOk(entry.stream.destroyed, 'and the stream stays open while the client is connected but slow')
  socket.destroy()
  await until('the storage stream to be destroyed once the client is gone', () => entry.stream.destroyed, 5000)
  t.pass('destroyed once the client is gone')
  const atClose = entry.bytes
  t.ok(atClose < SIZE, `it never read the whole file (${atClose} of ${SIZE} bytes)`)
})
