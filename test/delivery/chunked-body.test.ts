import t from 'tap'
import { randomBytes } from 'node:crypto'
import { PassThrough, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ChunkedBody, chunkBounds, chunkKey } from '../../src/delivery/chunked-body.js'
import { ChunkFill } from '../../src/delivery/chunk-fill.js'

const CHUNK = 16
const data = randomBytes(CHUNK * 4 + 5)

/** A chunk source over data; async for the chunks in asyncChunks, and it counts calls. */
function sourceOf (asyncChunks = new Set<number>()) {
  const calls: number[] = []
  const source = (n: number) => {
    calls.push(n)
    const { start, end } = chunkBounds(n, data.length, CHUNK)
    const chunk = data.subarray(start, end + 1)
    return asyncChunks.has(n) ? new Promise<Buffer>((resolve) => setTimeout(() => resolve(chunk), 2)) : chunk
  }
  return { source, calls }
}

async function collect (body: ChunkedBody): Promise<Buffer> {
  const pieces: Buffer[] = []
  for await (const piece of body) pieces.push(Buffer.from(piece))
  return Buffer.concat(pieces)
}

t.test('chunk keys and bounds, the last chunk shorter', async (t) => {
  t.equal(chunkKey('videos/a/v1/progressive.mp4', 3), 'videos/a/v1/progressive.mp4#chunk=3')
  t.same(chunkBounds(0, data.length, CHUNK), { start: 0, end: 15 })
  t.same(chunkBounds(4, data.length, CHUNK), { start: 64, end: 68 })
})

t.test('any range is stitched exactly from sync and async chunks, each chunk asked for once', async (t) => {
  for (const [start, end] of [[0, data.length - 1], [3, 5], [15, 16], [10, 60], [64, 68], [0, 0]] as Array<[number, number]>) {
    const { source, calls } = sourceOf(new Set([1, 3]))
    const body = new ChunkedBody({ size: data.length, ranges: [{ start, end }], source, chunkSize: CHUNK })
    t.ok((await collect(body)).equals(data.subarray(start, end + 1)), `${start}-${end}`)
    t.same(calls, [...new Set(calls)], 'no chunk asked for twice')
    t.equal(calls.length, Math.floor(end / CHUNK) - Math.floor(start / CHUNK) + 1)
  }
})

t.test('multipart parts are framed around each range', async (t) => {
  const { source } = sourceOf(new Set([2]))
  const body = new ChunkedBody({
    size: data.length,
    ranges: [{ start: 1, end: 2 }, { start: 30, end: 40 }],
    multipart: { parts: [{ range: { start: 1, end: 2 }, head: '<a>' }, { range: { start: 30, end: 40 }, head: '<b>' }], tail: '<end>' },
    source,
    chunkSize: CHUNK
  })
  const out = await collect(body)
  t.ok(out.equals(Buffer.concat([Buffer.from('<a>'), data.subarray(1, 3), Buffer.from('<b>'), data.subarray(30, 41), Buffer.from('<end>')])))
})

t.test('backpressure: no chunk is fetched before the consumer wants it, none after it is destroyed', async (t) => {
  // Chunks larger than the readable's 16 KiB high-water mark, as real 1 MiB chunks are.
  const big = 32 * 1024
  const calls: number[] = []
  const body = new ChunkedBody({ size: big * 8, ranges: [{ start: 0, end: big * 8 - 1 }], source: (n) => { calls.push(n); return Buffer.alloc(big) }, chunkSize: big })
  body.read(1)
  t.ok(calls.length <= 2, `asked for ${calls.length} chunks after one read`)
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(calls.length <= 2, 'and no more while nobody reads')
  body.destroy()
  await new Promise((resolve) => setImmediate(resolve))
  const asked = calls.length
  body.read()
  t.equal(calls.length, asked, 'nothing asked for once destroyed')
})

t.test('a failing or wrong-sized chunk destroys the body with the error', async (t) => {
  const failing = new ChunkedBody({ size: data.length, ranges: [{ start: 0, end: 40 }], source: (n) => n === 1 ? Promise.reject(new Error('storage down')) : data.subarray(0, CHUNK), chunkSize: CHUNK })
  await t.rejects(pipeline(failing, new Writable({ write: (_c, _e, cb) => cb() })), /storage down/)
  const short = new ChunkedBody({ size: data.length, ranges: [{ start: 0, end: 40 }], source: () => data.subarray(0, 3), chunkSize: CHUNK })
  await t.rejects(pipeline(short, new Writable({ write: (_c, _e, cb) => cb() })), /changed under its key/)
})

t.test('a chunk still being filled is sent on as it arrives, and the fill ends up whole', async (t) => {
  const fill = new ChunkFill(CHUNK)
  const pieces = new PassThrough()
  const reading = fill.read(pieces)
  const body = new ChunkedBody({ size: CHUNK, ranges: [{ start: 2, end: 13 }], source: () => fill.result ?? fill, chunkSize: CHUNK })
  const got: Buffer[] = []
  body.on('data', (d: Buffer) => got.push(Buffer.from(d)))
  const ended = new Promise((resolve) => body.on('end', resolve))
  pieces.write(data.subarray(0, 5))
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(Buffer.concat(got).equals(data.subarray(2, 5)), 'the bytes that arrived are already sent')
  pieces.end(data.subarray(5, CHUNK))
  const whole = await reading
  fill.settle(whole)
  await ended
  t.ok(Buffer.concat(got).equals(data.subarray(2, 14)))
  t.ok(whole.equals(data.subarray(0, CHUNK)), 'the fill holds the whole chunk for the cache')
})

t.test('a fill that fails, or gets the wrong number of bytes, fails its readers', async (t) => {
  const fill = new ChunkFill(CHUNK)
  const body = new ChunkedBody({ size: CHUNK, ranges: [{ start: 0, end: CHUNK - 1 }], source: () => fill, chunkSize: CHUNK })
  const done = pipeline(body, new Writable({ write: (_c, _e, cb) => cb() }))
  const pieces = new PassThrough()
  const reading = fill.read(pieces)
  pieces.end(data.subarray(0, 3))
  const err = await reading.catch((e: Error) => e)
  t.match(String(err), /3 of the 16 bytes/)
  fill.fail(err as Error)
  await t.rejects(done, /3 of the 16 bytes/)
  const tooLong = new ChunkFill(2)
  await t.rejects(tooLong.read(Readable.from([data.subarray(0, 3)])), /more than the 2 bytes/)
})

t.test('a storage stream destroyed without an error still fails the fill', async (t) => {
  const fill = new ChunkFill(CHUNK)
  const pieces = new PassThrough()
  const reading = fill.read(pieces)
  pieces.write(data.subarray(0, 4))
  await new Promise((resolve) => setImmediate(resolve))
  pieces.destroy()
  await t.rejects(reading, /closed the stream after 4 of the 16 bytes/)
})
