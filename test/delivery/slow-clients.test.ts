import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import net from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { publishVideo, writeRandomFile } from './fixtures.js'
import { childEnv } from '../helpers/child-env.js'

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

/** The server's side of every connection it accepts. */
function serverSockets (app: FastifyInstance): Set<net.Socket> {
  const sockets = new Set<net.Socket>()
  app.server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  return sockets
}

/**
 * Waits for the state the memory bound is about: `count` connections open, every chunk fill
 * finished, and nothing more written to any of them for 300 ms (the server has pushed all it
 * will into stalled sockets). A slow machine takes longer to get there; it is never measured early.
 */
async function stalledState (app: FastifyInstance, sockets: Set<net.Socket>, count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = -1
  let since = Date.now()
  for (;;) {
    let written = 0
    for (const socket of sockets) written += socket.bytesWritten
    const inFlight = (app.cache.stats() as { inFlight?: number }).inFlight
    if (written !== last || sockets.size < count || inFlight !== 0) {
      last = written
      since = Date.now()
    } else if (Date.now() - since >= 300) {
      return
    }
    if (Date.now() > deadline) throw new Error(`the server did not settle within ${timeoutMs} ms (${sockets.size} of ${count} connections, ${inFlight} fills in flight)`)
    await sleep(50)
  }
}

/** Waits until every server-side connection has closed and no fill is in flight. */
async function allClosed (app: FastifyInstance, sockets: Set<net.Socket>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (sockets.size > 0 || (app.cache.stats() as { inFlight?: number }).inFlight !== 0) {
    if (Date.now() > deadline) throw new Error(`${sockets.size} connections still open after ${timeoutMs} ms`)
    await sleep(20)
  }
}

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
  const sockets = serverSockets(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port

  const before = bufferMemory()
  const stalled: StalledClient[] = []
  for (let i = 0; i < clients; i++) stalled.push(await stalledClient(port, `/stream/${video._id}`))
  t.teardown(() => { for (const c of stalled) c.socket.destroy() })
  // Measured once the server has pushed (and buffered) whatever it would.
  await stalledState(app, sockets, clients)
  const grown = bufferMemory() - before
  const originReads = app.cache.stats().originReads
  t.ok(grown < limit, `${clients} stalled clients of a ${FILE_SIZE / MiB} MiB file grew buffer memory by ${(grown / MiB).toFixed(1)} MiB (limit ${(limit / MiB).toFixed(0)} MiB)`)
  t.ok(stalled.every((c) => c.received() < FILE_SIZE), 'no client got the whole file')

  // A client that goes away stops its reads at once: no chunk is read for it afterwards.
  for (const c of stalled) c.socket.destroy()
  await allClosed(app, sockets)
  const afterClose = app.cache.stats().originReads
  // Nothing may happen from here on: a late read would show within this window.
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
    // Sockets that do not read keep no event loop alive: without this the process would exit
    // (closing every client) as soon as they are stalled. It lives until the test's end of stdin.
    process.stdin.on('end', () => process.exit(0))
    process.stdin.resume()
  `
  const child = spawn(process.execPath, ['-e', script, String(port), String(count), ...paths], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() })
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
  const sockets = serverSockets(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port

  const before = bufferMemory()
  await stalledClientsElsewhere(t, port, ids.map((id) => `/stream/${id}`), CLIENTS)
  // Measured once the server has pushed (and buffered) whatever it would.
  await stalledState(app, sockets, CLIENTS)
  const grown = bufferMemory() - before
  const reads = app.cache.stats().originReads
  // The files are 128 MiB together, and 1,000 whole answers would be 32 GiB. What may grow is the
  // chunks the clients stand in (each read once, cached, shared by every client at that offset),
  // plus at most 8 KiB a client.
  const limit = reads * MiB + CLIENTS * 8 * 1024
  t.ok(grown < limit, `${CLIENTS} stalled clients of ${FILES} x ${SIZE / MiB} MiB files grew the server's buffer memory by ${(grown / MiB).toFixed(1)} MiB for ${reads} cached 1 MiB chunks (limit ${(limit / MiB).toFixed(1)} MiB)`)
  t.ok(reads <= FILES * 8, `one origin read per chunk reached, shared by the clients (${reads} reads)`)
})
