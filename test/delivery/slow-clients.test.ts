import t, { type Test } from 'tap'
import net from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { publishVideo, writeRandomFile } from './fixtures.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const MiB = 1024 * 1024
const FILE_SIZE = 64 * MiB

/** Memory that holds Buffers (outside the JS heap), after a full collection. */
function bufferMemory (): number {
  gc()
  gc()
  return process.memoryUsage().arrayBuffers
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface StalledClient {
  socket: net.Socket
  received: () => number
}

/** Sends a GET, reads about 1 KB of the answer, then stops reading (the socket stays open). */
function stalledClient (port: number, path: string): Promise<StalledClient> {
  return new Promise((resolve, reject) => {
    let received = 0
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    })
    // Small reads, so the kernel does not pull far ahead on our behalf.
    socket.setNoDelay(true)
    socket.once('error', reject)
    socket.on('data', (d: Buffer) => {
      received += d.length
      if (received >= 1024) {
        socket.pause()
        resolve({ socket, received: () => received })
      }
    })
  })
}

async function stallTest (t: Test, env: Record<string, string>, clients: number, limit: number): Promise<void> {
  const { app } = await buildTestApp(t, env)
  const dir = await tempDir(t)
  const file = await writeRandomFile(dir, 'big.bin', FILE_SIZE)
  const { video } = await publishVideo(app, new Map([['progressive.mp4', Buffer.alloc(0)]]), { progressive: { path: file } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port

  const before = bufferMemory()
  const stalled: StalledClient[] = []
  for (let i = 0; i < clients; i++) stalled.push(await stalledClient(port, `/stream/${video._id}`))
  t.teardown(() => { for (const c of stalled) c.socket.destroy() })
  // Give the server every chance to push (and buffer) whatever it would.
  await sleep(1500)
  const grown = bufferMemory() - before
  const originReads = app.cache.stats().originReads
  t.ok(grown < limit, `${clients} stalled clients of a ${FILE_SIZE / MiB} MiB file grew buffer memory by ${(grown / MiB).toFixed(1)} MiB (limit ${(limit / MiB).toFixed(0)} MiB)`)
  t.ok(stalled.every((c) => c.received() < FILE_SIZE), 'no client got the whole file')

  // A client that goes away stops its reads at once: no chunk is read for it afterwards.
  for (const c of stalled) c.socket.destroy()
  await sleep(300)
  const afterClose = app.cache.stats().originReads
  await sleep(700)
  t.equal(app.cache.stats().originReads, afterClose, 'no origin reads once the clients are gone')
  t.ok(afterClose - originReads <= clients, 'at most the chunk each was waiting on was finished')
  t.ok(bufferMemory() - before < limit, 'and memory stays bounded after they left')
}

t.test('stalled clients of one file, chunks cached: memory does not grow with the file', async (t) => {
  await stallTest(t, {}, 20, 16 * MiB)
})

t.test('stalled clients with a cache too small to keep a chunk: memory bounded by chunks, not files', async (t) => {
  // 1 MiB of L1 keeps no 1 MiB chunk, so every client reads storage for itself.
  await stallTest(t, { CACHE_MEMORY_MB: '1' }, 10, 10 * 4 * MiB)
})
