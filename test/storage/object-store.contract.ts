import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { InvalidKeyError, ObjectNotFoundError, isObjectNotFound } from '../../src/errors.js'
import type { ObjectStore } from '../../src/storage/object-store.js'

/** Waits until an unread stream has buffered something and stopped growing (for 200 ms); its buffered bytes. */
async function readAhead (stream: Readable, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let last = -1
  let since = Date.now()
  for (;;) {
    const length = stream.readableLength
    if (length !== last) {
      last = length
      since = Date.now()
    } else if (length > 0 && Date.now() - since >= 200) {
      return length
    }
    if (Date.now() > deadline) throw new Error(`an unread stream did not settle within ${timeoutMs} ms (${length} bytes buffered)`)
    await sleep(20)
  }
}

export interface StoreUnderTest {
  store: ObjectStore
  /** What failed or aborted puts may have left on the side (temp files), by name; empty when clean. */
  leftovers?: () => Promise<string[]>
}

/** Builds a fresh, empty store for one subtest and tears it down after it. */
export type StoreFactory = (t: Test) => Promise<StoreUnderTest>

const MiB = 1024 * 1024

/** Deterministic bytes that differ at every offset, so a shifted or misplaced range cannot pass. */
export function patternBytes (size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < size; i++) {
    // xorshift32
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/** Streams data in odd-sized chunks, so no chunk boundary lines up with a part or a range. */
export function chunkedStream (data: Buffer, chunkSize = 100_003): Readable {
  let offset = 0
  return new Readable({
    read () {
      if (offset >= data.length) {
        this.push(null)
        return
      }
      const end = Math.min(offset + chunkSize, data.length)
      this.push(data.subarray(offset, end))
      offset = end
    }
  })
}

/** Yields `before` bytes of data, then fails, as a dropped upload connection does. */
export function failingStream (data: Buffer, before: number, chunkSize = 256 * 1024): Readable {
  let offset = 0
  return new Readable({
    read () {
      if (offset >= before) {
        this.destroy(new Error('source failed halfway'))
        return
      }
      const end = Math.min(offset + chunkSize, before)
      this.push(data.subarray(offset, end))
      offset = end
    }
  })
}

export async function readAll (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const INVALID_KEYS = ['../x', '/abs', 'a/../../b', 'a\\b', '', 'a//b', 'a/', './a', 'a/.', 'a\u0000b', 'a\nb', 'a\u007fb', 'x'.repeat(1025), 'a/' + 'y'.repeat(256)]

/** The behaviour every ObjectStore backend owes its callers. */
export function objectStoreContract (t: Test, factory: StoreFactory): void {
  t.test('a streamed put reads back byte for byte, and head agrees with put', async (t) => {
    const { store } = await factory(t)
    const data = patternBytes(300_001, 2)
    const before = Date.now()
    const info = await store.put('originals/abc', chunkedStream(data, 65_537), { contentType: 'video/mp4' })
    t.equal(info.key, 'originals/abc')
    t.equal(info.size, data.length)
    t.match(info.etag, /^"[^"]+"$/, 'a quoted strong ETag')
    // Storage clocks may have second resolution: allow a little slack on each side.
    t.ok(info.lastModified.getTime() >= before - 2000 && info.lastModified.getTime() <= Date.now() + 2000, 'lastModified is about now')
    const head = await store.head('originals/abc')
    t.same(head, info)
    t.ok((await readAll(await store.get('originals/abc'))).equals(data), 'bytes equal')
  })

  t.test('Buffer bodies and empty objects', async (t) => {
    const { store } = await factory(t)
    const data = patternBytes(1000, 3)
    t.equal((await store.put('b/buffer', data)).size, 1000)
    t.ok((await readAll(await store.get('b/buffer'))).equals(data))
    const empty = await store.put('b/empty', Buffer.alloc(0))
    t.equal(empty.size, 0)
    t.equal((await store.head('b/empty')).size, 0)
    t.equal((await readAll(await store.get('b/empty'))).length, 0)
    t.equal((await readAll(chunkedStream(Buffer.alloc(0)))).length, 0)
    t.equal((await store.put('b/empty-stream', chunkedStream(Buffer.alloc(0)))).size, 0)
    t.equal((await readAll(await store.get('b/empty-stream'))).length, 0)
  })

  t.test('a multi-MiB stream (several multipart parts) and exact ranges of it', async (t) => {
    const { store } = await factory(t)
    const size = 12 * MiB + 12_345
    const data = patternBytes(size, 4)
    const info = await store.put('videos/v1/progressive.mp4', chunkedStream(data))
    t.equal(info.size, size)
    t.equal((await store.head('videos/v1/progressive.mp4')).size, size)
    t.ok((await readAll(await store.get('videos/v1/progressive.mp4'))).equals(data), 'whole object byte-exact')
    const ranges: Array<[number, number, string]> = [
      [0, 0, 'first byte'],
      [size - 1, size - 1, 'last byte'],
      [5 * MiB - 7, 5 * MiB + 7, 'across a 5 MiB part boundary'],
      [8 * MiB - 7, 8 * MiB + 7, 'across an 8 MiB part boundary'],
      [3 * MiB + 17, 4 * MiB + 16, 'one MiB in the middle'],
      [6_000_001, 6_000_001, 'a single byte in the middle'],
      [0, size - 1, 'the whole object as a range'],
      [size - 1000, size - 1, 'the tail']
    ]
    for (const [start, end, what] of ranges) {
      const got = await readAll(await store.get('videos/v1/progressive.mp4', { range: { start, end } }))
      t.equal(got.length, end - start + 1, `${what}: length`)
      t.ok(got.equals(data.subarray(start, end + 1)), `${what}: bytes`)
    }
  })

  t.test('ranges past the end: an end beyond is clamped, a start beyond is refused', async (t) => {
    const { store } = await factory(t)
    const data = patternBytes(1000, 5)
    await store.put('r/x', data)
    const clamped = await readAll(await store.get('r/x', { range: { start: 990, end: 5000 } }))
    t.ok(clamped.equals(data.subarray(990)), 'end clamped to the last byte')
    for (const range of [{ start: 1000, end: 1000 }, { start: 1000, end: 2000 }, { start: 5000, end: 6000 }]) {
      await t.rejects(store.get('r/x', { range }), { code: 'LECTERN_ERR_RANGE_NOT_SATISFIABLE', statusCode: 416 }, JSON.stringify(range))
    }
    for (const range of [{ start: 5, end: 2 }, { start: -1, end: 2 }, { start: 0.5, end: 2 }]) {
      await t.rejects(store.get('r/x', { range }), { code: 'LECTERN_ERR_RANGE_NOT_SATISFIABLE' }, `malformed ${JSON.stringify(range)}`)
    }
  })

  t.test('overwrite: new bytes, new ETag, even at the same size', async (t) => {
    const { store } = await factory(t)
    const v1 = patternBytes(4096, 6)
    const v2 = patternBytes(4096, 7)
    const a = await store.put('o/k', v1)
    const b = await store.put('o/k', v2)
    t.not(a.etag, b.etag, 'ETag changed with the content')
    t.same(await store.head('o/k'), b)
    t.ok((await readAll(await store.get('o/k'))).equals(v2))
    const c = await store.put('o/k', v1)
    t.not(c.etag, b.etag)
    t.ok((await readAll(await store.get('o/k'))).equals(v1))
    t.same((await store.list('o/')).map((o) => o.key), ['o/k'], 'still one object')
    // Quick same-size rewrites: a validator that repeats an earlier version's would let a cache
    // serve stale bytes as fresh.
    const etags = new Set<string>()
    for (let i = 0; i < 20; i++) etags.add((await store.put('o/k', patternBytes(4096, 100 + i))).etag)
    t.equal(etags.size, 20, 'twenty versions, twenty ETags')
  })

  t.test('missing objects are a typed not-found', async (t) => {
    const { store } = await factory(t)
    await store.put('present/a', Buffer.from('x'))
    for (const key of ['missing', 'present/b', 'present/a/deeper', 'present']) {
      const e1 = await store.get(key).then(() => undefined, (err: unknown) => err)
      t.ok(e1 instanceof ObjectNotFoundError, `get ${key}`)
      t.ok(isObjectNotFound(e1))
      t.match(e1, { code: 'LECTERN_ERR_OBJECT_NOT_FOUND', statusCode: 404 })
      const e2 = await store.get(key, { range: { start: 0, end: 0 } }).then(() => undefined, (err: unknown) => err)
      t.ok(e2 instanceof ObjectNotFoundError, `ranged get ${key}`)
      const e3 = await store.head(key).then(() => undefined, (err: unknown) => err)
      t.ok(e3 instanceof ObjectNotFoundError, `head ${key}`)
    }
  })

  t.test('delete is idempotent', async (t) => {
    const { store } = await factory(t)
    await store.put('d/one', Buffer.from('1'))
    await store.put('d/two', Buffer.from('2'))
    await store.delete('d/one')
    await t.rejects(store.head('d/one'), ObjectNotFoundError)
    await store.delete('d/one')
    await store.delete('never/was')
    t.same((await store.list('')).map((o) => o.key), ['d/two'], 'the sibling is untouched')
  })

  t.test('deletePrefix deletes exactly the matching objects and counts them', async (t) => {
    const { store } = await factory(t)
    for (const key of ['v/1/a', 'v/1/b', 'v/1/sub/c', 'v/10/a', 'v/2/a']) await store.put(key, Buffer.from(key))
    t.equal(await store.deletePrefix('v/1/'), 3)
    t.same((await store.list('')).map((o) => o.key), ['v/10/a', 'v/2/a'])
    t.equal(await store.deletePrefix('v/1/'), 0, 'nothing left to delete')
    t.equal(await store.deletePrefix('nothing-here/'), 0)
    t.equal(await store.deletePrefix('v/1'), 1, 'a partial segment matches v/10')
    t.same((await store.list('')).map((o) => o.key), ['v/2/a'])
    t.equal(await store.deletePrefix(''), 1, 'the empty prefix matches everything')
    t.same(await store.list(''), [])
  })

  t.test('list: key order, prefix isolation, and the same info as head', async (t) => {
    const { store } = await factory(t)
    // UTF-8 byte order: "é" (C3 A9) after "z"; U+FF21 (EF BC A1) before U+1F600 (F0 9F 98 80),
    // which UTF-16 code unit order would get the other way round.
    const keys = ['a/bc/1', 'a/b/2', 'a/b/10', 'a/b/1', 'a/a', 'b/x', 'a/z', 'a/é', 'k/\uFF21', 'k/\u{1F600}', 'a/B']
    for (const key of keys) await store.put(key, Buffer.from(key))
    const all = await store.list('')
    t.same(all.map((o) => o.key), ['a/B', 'a/a', 'a/b/1', 'a/b/10', 'a/b/2', 'a/bc/1', 'a/z', 'a/é', 'b/x', 'k/\uFF21', 'k/\u{1F600}'])
    t.same((await store.list('a/b/')).map((o) => o.key), ['a/b/1', 'a/b/10', 'a/b/2'], 'a/b/ does not reach a/bc')
    t.same((await store.list('a/bc')).map((o) => o.key), ['a/bc/1'])
    t.same((await store.list('a/b')).map((o) => o.key), ['a/b/1', 'a/b/10', 'a/b/2', 'a/bc/1'], 'a partial segment matches both')
    t.same((await store.list('a/b/1')).map((o) => o.key), ['a/b/1', 'a/b/10'])
    t.same(await store.list('c/'), [])
    t.same(await store.list('a/b/2/'), [], 'an object is not a directory')
    for (const info of all) t.same(info, await store.head(info.key), `list and head agree on ${info.key}`)
  })

  t.test('invalid keys and prefixes are refused before storage is touched', async (t) => {
    const { store } = await factory(t)
    for (const key of INVALID_KEYS) {
      const shown = JSON.stringify(key.length > 40 ? key.slice(0, 40) + '...' : key)
      const expected = { code: 'LECTERN_ERR_INVALID_KEY', statusCode: 400 }
      await t.rejects(store.put(key, Buffer.from('x')), InvalidKeyError, `put ${shown}`)
      await t.rejects(store.put(key, chunkedStream(Buffer.from('x'))), expected, `streamed put ${shown}`)
      await t.rejects(store.get(key), expected, `get ${shown}`)
      await t.rejects(store.head(key), expected, `head ${shown}`)
      await t.rejects(store.delete(key), expected, `delete ${shown}`)
    }
    for (const prefix of ['../', '/abs', 'a/../', 'a\\', 'a//']) {
      await t.rejects(store.list(prefix), { code: 'LECTERN_ERR_INVALID_KEY' }, `list ${prefix}`)
      await t.rejects(store.deletePrefix(prefix), { code: 'LECTERN_ERR_INVALID_KEY' }, `deletePrefix ${prefix}`)
    }
    const err = await store.get('a/../../b').catch((e: unknown) => e as Error)
    t.match(err, { message: /Invalid object key "a\/\.\.\/\.\.\/b": .*"\.\."/ }, 'the message names the key and the rule')
    t.same(await store.list(''), [], 'nothing was stored')
  })

  t.test('a source that fails halfway leaves no object, and an old one intact', async (t) => {
    const { store, leftovers } = await factory(t)
    const size = 12 * MiB
    const data = patternBytes(size, 8)
    // Past the first multipart part, so a part has been uploaded when the source fails.
    await t.rejects(store.put('f/new', failingStream(data, 9 * MiB)), { message: 'source failed halfway' })
    await t.rejects(store.head('f/new'), ObjectNotFoundError)
    t.same(await store.list(''), [])
    const old = patternBytes(2000, 9)
    const oldInfo = await store.put('f/old', old)
    await t.rejects(store.put('f/old', failingStream(data, 300_000)), { message: 'source failed halfway' })
    t.same(await store.head('f/old'), oldInfo, 'the old object is untouched')
    t.ok((await readAll(await store.get('f/old'))).equals(old))
    if (leftovers !== undefined) t.same(await leftovers(), [], 'nothing left on the side')
  })

  t.test('an aborted put leaves nothing, whenever the abort comes', async (t) => {
    const { store, leftovers } = await factory(t)
    const data = patternBytes(10 * MiB, 10)

    const already = new AbortController()
    already.abort()
    await t.rejects(store.put('x/pre', chunkedStream(data), { signal: already.signal }), { name: 'AbortError' }, 'aborted before the put')

    // A source that stalls after 6 MiB, like an uploader that stopped sending.
    const controller = new AbortController()
    let sent = 0
    const stalled = new Readable({
      read () {
        if (sent >= 6 * MiB) {
          setTimeout(() => controller.abort(), 50)
          return
        }
        this.push(data.subarray(sent, sent + MiB))
        sent += MiB
      }
    })
    await t.rejects(store.put('x/mid', stalled, { signal: controller.signal }), { name: 'AbortError' }, 'aborted while streaming')
    t.ok(stalled.destroyed, 'the source was destroyed, not left paused')
    await t.rejects(store.head('x/mid'), ObjectNotFoundError)
    await t.rejects(store.head('x/pre'), ObjectNotFoundError)
    t.same(await store.list(''), [])
    if (leftovers !== undefined) t.same(await leftovers(), [], 'nothing left on the side')
  })

  t.test('an aborted get ends its stream with an AbortError', async (t) => {
    const { store } = await factory(t)
    await store.put('g/big', patternBytes(4 * MiB, 11))
    const controller = new AbortController()
    const stream = await store.get('g/big', { signal: controller.signal })
    const chunks: Buffer[] = []
    const err = await (async () => {
      for await (const chunk of stream) {
        chunks.push(chunk as Buffer)
        if (chunks.length === 1) controller.abort()
        await sleep(1)
      }
    })().then(() => undefined, (e: unknown) => e)
    t.match(err, { name: 'AbortError' })
    t.ok(stream.destroyed)
    const aborted = new AbortController()
    aborted.abort()
    await t.rejects(store.get('g/big', { signal: aborted.signal }), { name: 'AbortError' }, 'already aborted')
  })

  t.test('a read is paced by its reader: an unread stream holds little in memory', async (t) => {
    const { store } = await factory(t)
    const data = patternBytes(24 * MiB, 12)
    await store.put('p/big', chunkedStream(data))
    for (const range of [undefined, { start: MiB, end: 20 * MiB }]) {
      const stream = await store.get('p/big', range === undefined ? {} : { range })
      // A reader that asks once and then stops: the stream reads ahead as far as it will, and
      // that (not a moment after opening, which on a slow machine is before any read) is measured.
      t.notOk(stream.readableObjectMode, 'a byte stream, so its readableLength counts bytes')
      stream.read(0)
      const buffered = await readAhead(stream)
      t.ok(buffered > 0 && buffered < 2 * MiB, `${range === undefined ? 'whole' : 'ranged'} read: ${buffered} bytes buffered while unread`)
      const got = await readAll(stream)
      t.ok(got.equals(range === undefined ? data : data.subarray(range.start, range.end + 1)), 'then every byte arrives')
    }
  })

  t.test('probe answers', async (t) => {
    const { store } = await factory(t)
    await t.resolves(store.probe())
  })
}
