import t from 'tap'
import { ChunkPool, ResponseHolds } from '../../src/delivery/chunk-pool.js'

const SIZE = 4096

t.test('a buffer comes back only once no fill, response or cache holds it', async (t) => {
  const pool = new ChunkPool(SIZE, 4)
  const a = pool.take()
  t.equal(a.byteLength, SIZE)
  t.equal(a.buffer.byteLength, SIZE, 'a standalone ArrayBuffer, so the LRU keeps it without copying')
  t.ok(pool.owns(a))

  const response = new ResponseHolds(pool)
  response.hold(a)
  pool.markCached(a)
  pool.release(a) // the fill is done
  t.not(pool.take(), a, 'held by a response and cached: not handed out')
  response.releaseAll()
  t.equal(pool.stats.idle, 0, 'still cached')
  pool.uncached(a)
  t.equal(pool.stats.idle, 1, 'dropped by the cache and released by everyone: idle')
  t.notOk(pool.owns(a), 'an idle buffer has no holders to release it again')
  t.equal(pool.take(), a, 'and is the next one handed out')
  t.same(pool.stats, { allocated: 2, recycled: 1, idle: 0 })
})

t.test('the cache dropping a buffer before a response has finished with it does not free it', async (t) => {
  const pool = new ChunkPool(SIZE, 4)
  const a = pool.take()
  pool.markCached(a)
  const response = new ResponseHolds(pool)
  response.hold(a)
  pool.release(a)
  pool.uncached(a)
  t.equal(pool.stats.idle, 0, 'the response still writes from it')
  response.releaseAll()
  t.equal(pool.stats.idle, 1)
})

t.test('an uncached removal of a buffer never marked cached changes nothing', async (t) => {
  // L1 can evict a fill's buffer before the fill marks it cached; the pool must not count that twice.
  const pool = new ChunkPool(SIZE, 4)
  const a = pool.take()
  pool.uncached(a)
  t.equal(pool.stats.idle, 0, 'the fill still holds it')
  pool.release(a)
  t.equal(pool.stats.idle, 1)
})

t.test('a response holds each buffer once, however often it reads from it, and releases once', async (t) => {
  const pool = new ChunkPool(SIZE, 4)
  const a = pool.take()
  const b = pool.take()
  const response = new ResponseHolds(pool)
  for (const buf of [a, a, b, a, b, b]) response.hold(buf)
  response.hold(Buffer.alloc(SIZE)) // not from the pool: ignored
  pool.release(a)
  pool.release(b)
  t.equal(pool.stats.idle, 0)
  response.releaseAll()
  t.equal(pool.stats.idle, 2, 'one release each brought both to zero')
  response.releaseAll()
  response.hold(pool.take())
  t.equal(pool.stats.idle, 1, 'a closed response neither releases again nor holds anything new')
})

t.test('idle buffers are bounded; the rest are left to the garbage collector', async (t) => {
  const pool = new ChunkPool(SIZE, 2)
  const bufs = [pool.take(), pool.take(), pool.take()]
  for (const b of bufs) pool.release(b)
  t.equal(pool.stats.idle, 2)
  t.equal(pool.stats.allocated, 3)
})
