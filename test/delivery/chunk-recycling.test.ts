import t from 'tap'
import net from 'node:net'
import { readFile } from 'node:fs/promises'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { publishVideo, writeRandomFile } from './fixtures.js'
import { recycledChunkBuffers } from '../../src/delivery/chunk-pool.js'
import { request } from './http.js'

// Without Redis, the buffers of evicted chunks are recycled for new fills. An L1 of 8 chunks over
// a 32-chunk file evicts all the time, so these answers are written from buffers that are
// refilled with other chunks as soon as nothing holds them: every byte is checked.

const MiB = 1024 * 1024
const FILE_SIZE = 32 * MiB

const { app } = await buildTestApp(t, { CACHE_MEMORY_MB: '8' })
const dir = await tempDir(t)
const file = await writeRandomFile(dir, 'big.bin', FILE_SIZE)
const bytes = await readFile(file)
const { video } = await publishVideo(app, new Map([['progressive.mp4', Buffer.alloc(0)]]), { progressive: { path: file } })
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const port = (app.server.address() as net.AddressInfo).port
const path = `/stream/${video._id}`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function checkRange (start: number, end: number): Promise<boolean> {
  const r = await request(base, path, { headers: { range: `bytes=${start}-${end}` } })
  return r.status === 206 && r.body.equals(bytes.subarray(start, end + 1))
}

t.test('a stalled client gets exact bytes after its chunks were evicted and their buffers reused', async (t) => {
  const want = 12 * MiB
  const received: Buffer[] = []
  let length = 0
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.setNoDelay(true)
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-${want - 1}\r\nConnection: close\r\n\r\n`)
  let stalled = false
  await new Promise<void>((resolve) => socket.on('data', (d: Buffer) => {
    received.push(d)
    length += d.length
    if (length >= 1024 && !stalled) {
      stalled = true
      socket.pause()
      resolve()
    }
  }))
  // Let the server queue what it will for the stalled socket, then churn the cache through
  // every other chunk (more than its size and the idle pool together) while the client waits.
  await sleep(300)
  const recycledBefore = recycledChunkBuffers()
  const others: boolean[] = []
  for (let n = 12; n < 32; n++) others.push(await checkRange(n * MiB, (n + 1) * MiB - 1))
  for (let n = 0; n < 12; n += 3) others.push(await checkRange(n * MiB + 100, (n + 2) * MiB + 99))
  t.ok(others.every(Boolean), 'the churning requests got exact bytes')
  t.ok(recycledChunkBuffers() - recycledBefore >= 8, `evicted chunks' buffers were reused for new fills (${recycledChunkBuffers() - recycledBefore} times)`)

  const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()))
  socket.resume()
  await ended
  const raw = Buffer.concat(received)
  const headEnd = raw.indexOf('\r\n\r\n')
  t.match(raw.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 206 /)
  const body = raw.subarray(headEnd + 4)
  t.equal(body.length, want, 'the whole range arrived')
  t.ok(body.equals(bytes.subarray(0, want)), 'every byte of it is the file, none from a reused buffer')
})

t.test('many concurrent ranges over an evicting cache are byte-exact', async (t) => {
  let seed = 12345
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n
  }
  const ranges: Array<[number, number]> = []
  for (let i = 0; i < 96; i++) {
    const start = random(FILE_SIZE)
    const span = i % 3 === 0 ? random(3 * MiB) : i % 3 === 1 ? MiB - 1 : random(4096)
    ranges.push([start, Math.min(FILE_SIZE - 1, start + span)])
  }
  const results: boolean[] = []
  const recycledBefore = recycledChunkBuffers()
  const workers = Array.from({ length: 12 }, async () => {
    for (let r = ranges.pop(); r !== undefined; r = ranges.pop()) results.push(await checkRange(r[0], r[1]))
  })
  // Clients that give up half way release what they held, and must not disturb anyone else.
  const quitters = Array.from({ length: 6 }, async (_, i) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nRange: bytes=${i * 4 * MiB}-${i * 4 * MiB + 3 * MiB}\r\n\r\n`)
    await new Promise<void>((resolve) => socket.once('data', () => resolve()))
    socket.destroy()
  })
  await Promise.all([...workers, ...quitters])
  t.equal(results.length, 96)
  t.ok(results.every(Boolean), 'every answer is exactly the requested bytes of the file')
  t.ok(recycledChunkBuffers() - recycledBefore > 0, `and buffers were reused meanwhile (${recycledChunkBuffers() - recycledBefore} times)`)
})
