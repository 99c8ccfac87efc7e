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
const opened: Readable[] = []
const storage: ObjectStore = Object.assign(Object.create(fs) as ObjectStore, {
  async get (key: string, options?: Parameters<ObjectStore['get']>[1]) {
    const stream = await fs.get(key, options)
    opened.push(stream)
    return stream
  }
})
const { app } = await buildTestApp(t, { CACHE_MEMORY_MB: '1' }, { storage })
const { video } = await publishVideo(app, new Map([['progressive.mp4', bytes]]))
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const path = `/stream/${video._id}`

t.test('after one fill that the cache could not keep, ranges are piped from storage, byte-exact', async (t) => {
  const first = await request(base, path, { headers: { range: 'bytes=10-20' } })
  t.ok(first.body.equals(bytes.subarray(10, 21)))
  t.equal(app.cache.stats().originReads, 1, 'the first miss filled a chunk')
  // The answer can end before the rest of its chunk has arrived; let the fill finish.
  await new Promise((resolve) => setTimeout(resolve, 100))
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
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
  await new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.pause()
  await new Promise((resolve) => setTimeout(resolve, 200))
  const stream = opened[before]
  t.ok(stream !== undefined, 'a storage stream was opened for it')
  t.notOk(stream!.destroyed, 'and stays open while the client is connected but slow')
  socket.destroy()
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.ok(stream!.destroyed, 'destroyed once the client is gone')
  t.ok((stream as unknown as { bytesRead?: number }).bytesRead === undefined || (stream as unknown as { bytesRead: number }).bytesRead < SIZE, 'it never read the whole file')
})
