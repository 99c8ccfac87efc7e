import t, { type Test } from 'tap'
import net from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
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

/**
 * Opens `count` stalled clients in a child process, so that their own socket buffers are not
 * counted in this (the server's) process: each sends a GET, reads about 1 KB, then stops reading.
 */
async function stalledClientsElsewhere (t: Test, port: number, paths: string[], count: number): Promise<ChildProcess> {
  const script = `
    const net = require('node:net')
    const [port, count, ...paths] = process.argv.slice(1)
    let ready = 0
    const open = (i) => new Promise((resolve, reject) => {
      let received = 0
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write('GET ' + paths[i % paths.length] + ' HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n')
      })
      socket.once('error', reject)
      socket.on('data', (d) => {
        received += d.length
        if (received >= 1024 && !socket.isPaused()) { socket.pause(); resolve() }
      })
    })
    ;(async () => {
      for (let i = 0; i < Number(count); i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, Number(count) - i) }, (_, j) => open(i + j)))
      }
      process.stdout.write('stalled\\n')
    })().catch((err) => { process.stderr.write(String(err)); process.exit(1) })
  `
  const child = spawn(process.execPath, ['-e', script, String(port), String(count), ...paths], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => { if (d.includes('stalled')) resolve() })
    child.once('exit', (code) => reject(new Error(`client process exited (${code}): ${stderr}`)))
  })
  return child
}

t.test('1,000 stalled clients over several files: memory grows with neither the clients nor the file sizes', async (t) => {
  const FILES = 4
  const CLIENTS = 1000
  const SIZE = 32 * MiB
  const { app } = await buildTestApp(t, {})
  const dir = await tempDir(t)
  const ids: string[] = []
  for (let i = 0; i < FILES; i++) {
    const file = await writeRandomFile(dir, `big-${i}.bin`, SIZE)
    const { video } = await publishVideo(app, new Map([['progressive.mp4', Buffer.alloc(0)]]), { progressive: { path: file } })
    ids.push(video._id)
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port

  const before = bufferMemory()
  await stalledClientsElsewhere(t, port, ids.map((id) => `/stream/${id}`), CLIENTS)
  // Give the server every chance to push (and buffer) whatever it would.
  await sleep(2000)
  const grown = bufferMemory() - before
  const reads = app.cache.stats().originReads
  // The files are 128 MiB together, and 1,000 whole answers would be 32 GiB. What may grow is the
  // chunks the clients stand in (each read once, cached, shared by every client at that offset),
  // plus at most 8 KiB a client.
  const limit = reads * MiB + CLIENTS * 8 * 1024
  t.ok(grown < limit, `${CLIENTS} stalled clients of ${FILES} x ${SIZE / MiB} MiB files grew the server's buffer memory by ${(grown / MiB).toFixed(1)} MiB for ${reads} cached 1 MiB chunks (limit ${(limit / MiB).toFixed(1)} MiB)`)
  t.ok(reads <= FILES * 8, `one origin read per chunk reached, shared by the clients (${reads} reads)`)
})
