import t from 'tap'
import { LruCache } from '../../src/cache/lru-cache.js'

const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill)

t.test('total bytes never exceed the bound; the least recently used go first', async (t) => {
  const lru = new LruCache({ maxBytes: 1000, maxEntryBytes: 400 })
  lru.set('a', bytes(300))
  lru.set('b', bytes(300))
  lru.set('c', bytes(300))
  t.equal(lru.bytes, 900)
  t.equal(lru.size, 3)

  // Touch a, so b becomes the oldest.
  t.ok(lru.peek('a'))
  lru.set('d', bytes(300))
  t.equal(lru.bytes, 900, 'b was evicted to make room')
  t.equal(lru.peek('b'), undefined)
  t.same([...lru.keys()], ['c', 'a', 'd'], 'order is least to most recently used')
  t.equal(lru.evictions, 1)

  // One big entry may push out several small ones.
  lru.set('e', bytes(400))
  t.ok(lru.bytes <= 1000)
  t.same([...lru.keys()], ['a', 'd', 'e'])
  t.equal(lru.bytes, 1000)
})

t.test('peek returns the very bytes stored, and has() does not change recency', async (t) => {
  const lru = new LruCache({ maxBytes: 100 })
  const value = Buffer.alloc(7, 's') // not from the shared pool, so it is kept as is
  lru.set('k', value)
  lru.set('j', Buffer.from('x'))
  t.equal(lru.peek('k'), value, 'same Buffer, no copy')
  t.ok(lru.has('j'))
  t.same([...lru.keys()], ['j', 'k'], 'has() left j the oldest')
})

t.test('replacing a key adjusts the byte count', async (t) => {
  const lru = new LruCache({ maxBytes: 1000 })
  lru.set('k', bytes(100))
  lru.set('k', bytes(30))
  t.equal(lru.bytes, 30)
  t.equal(lru.size, 1)
  t.equal(lru.peek('k')!.length, 30)
})

t.test('entries larger than an eighth of capacity are not stored', async (t) => {
  const lru = new LruCache({ maxBytes: 800 })
  t.equal(lru.maxEntryBytes, 100)
  t.equal(lru.set('fits', bytes(100)), true)
  t.equal(lru.set('big', bytes(101)), false)
  t.equal(lru.peek('big'), undefined)
  t.equal(lru.bytes, 100, 'nothing was evicted for it either')
  t.ok(lru.has('fits'))

  // An oversize replacement removes the stale smaller value rather than keeping it.
  lru.set('fits', bytes(500))
  t.equal(lru.peek('fits'), undefined)
  t.equal(lru.bytes, 0)
})

t.test('deletePrefix drops exactly the keys under the prefix', async (t) => {
  const lru = new LruCache({ maxBytes: 10_000 })
  for (const key of ['videos/a/1/720p/s0.ts', 'videos/a/1/720p/s1.ts', 'videos/a/1/master.m3u8', 'videos/ab/1/s0.ts', 'videos/b/1/s0.ts']) {
    lru.set(key, bytes(10))
  }
  t.equal(lru.deletePrefix('videos/a/'), 3)
  t.same([...lru.keys()].sort(), ['videos/ab/1/s0.ts', 'videos/b/1/s0.ts'])
  t.equal(lru.bytes, 20)
  t.equal(lru.delete('videos/b/1/s0.ts'), true)
  t.equal(lru.delete('videos/b/1/s0.ts'), false)
  t.equal(lru.bytes, 10)
  t.equal(lru.size, 1)
})

t.test('a small view into a large buffer is copied, so the parent is not kept alive', async (t) => {
  const lru = new LruCache({ maxBytes: 1 << 20 })
  const parent = Buffer.alloc(64 * 1024, 7)
  const view = parent.subarray(100, 200)
  lru.set('v', view)
  const stored = lru.peek('v')!
  t.same(stored, view, 'same bytes')
  t.not(stored.buffer, parent.buffer, 'not sharing the 64 KiB parent')
  t.equal(stored.buffer.byteLength, 100)

  const own = Buffer.allocUnsafeSlow(1000)
  lru.set('own', own)
  t.equal(lru.peek('own'), own, 'a buffer that owns its memory is kept as is')
})

t.test('zero capacity stores nothing; bad capacity is refused', async (t) => {
  const lru = new LruCache({ maxBytes: 0 })
  t.equal(lru.set('k', bytes(1)), false)
  t.equal(lru.size, 0)
  t.throws(() => new LruCache({ maxBytes: -1 }), RangeError)
  t.throws(() => new LruCache({ maxBytes: 1.5 }), RangeError)
})

t.test('a long random workload keeps the accounting exact', async (t) => {
  const lru = new LruCache({ maxBytes: 50_000 })
  let seed = 42
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n
  }
  for (let i = 0; i < 20_000; i++) {
    const key = `k${rand(300)}`
    const op = rand(10)
    if (op < 6) lru.set(key, bytes(rand(lru.maxEntryBytes) + 1))
    else if (op < 9) lru.peek(key)
    else lru.delete(key)
    if (lru.bytes > lru.maxBytes) t.fail(`over the bound at step ${i}: ${lru.bytes}`)
  }
  let sum = 0
  for (const key of [...lru.keys()]) sum += lru.peek(key)!.length
  t.equal(lru.bytes, sum, 'byte count equals the sum of stored values')
})

t.test('onRemove reports every value that stops being stored, and only those', async (t) => {
  const lru = new LruCache({ maxBytes: 1000, maxEntryBytes: 400 })
  const removed: Array<[string, Buffer]> = []
  lru.onRemove((key, value) => removed.push([key, value]))
  const a = Buffer.alloc(300, 'a')
  const b = Buffer.alloc(300, 'b')
  const c = Buffer.alloc(300, 'c')
  lru.set('a', a)
  lru.set('b', b)
  lru.set('c', c)
  t.same(removed, [], 'storing removes nothing while there is room')

  lru.set('a', a)
  t.same(removed, [], 'storing the same Buffer again is not a removal')
  lru.set('d', Buffer.alloc(300, 'd'))
  t.equal(removed.length, 1)
  t.equal(removed[0]![0], 'b', 'the least recently used key was evicted')
  t.equal(removed[0]![1], b, 'with the very Buffer that was stored')

  const c2 = Buffer.alloc(300, 'C')
  lru.set('c', c2)
  t.equal(removed[1]![1], c, 'replacing a key with another Buffer removes the old one')

  lru.set('a', Buffer.alloc(500))
  t.equal(removed[2]![1], a, 'a replacement too large to keep removes the old value')
  t.equal(removed.length, 3, 'and the refused value is never reported: it was never stored')
  t.notOk(lru.has('a'))

  lru.delete('c')
  t.equal(removed[3]![1], c2, 'delete')
  lru.delete('c')
  t.equal(removed.length, 4, 'deleting a missing key reports nothing')

  lru.set('p/1', Buffer.alloc(10))
  lru.set('p/2', Buffer.alloc(10))
  lru.deletePrefix('p/')
  t.same(removed.slice(4).map(([k]) => k), ['p/1', 'p/2'], 'deletePrefix')

  lru.clear()
  t.same(removed.slice(6).map(([k]) => k), ['d'], 'clear reports what was left')
  t.equal(lru.bytes, 0)
  t.equal(lru.size, 0)
})

t.test('recency matches a plain list model over random peeks, sets and deletes (repeated hits included)', async (t) => {
  const lru = new LruCache({ maxBytes: 8 * 10, maxEntryBytes: 10 })
  // The model: keys from least to most recently used, each value 10 bytes, at most 8 kept.
  let model: string[] = []
  let seed = 7
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  for (let step = 0; step < 5000; step++) {
    const key = `k${random(12)}`
    const op = random(10)
    if (op < 6) {
      const hit = lru.peek(key) !== undefined
      t.equal(hit, model.includes(key), `step ${step}: peek ${key}`)
      if (hit) model = [...model.filter((k) => k !== key), key]
      // Hits in a row on the same key, as a segment in demand gets.
      if (hit && op === 0) for (let i = 0; i < 3; i++) lru.peek(key)
    } else if (op < 9) {
      lru.set(key, Buffer.alloc(10, step))
      model = [...model.filter((k) => k !== key), key]
      if (model.length > 8) model = model.slice(model.length - 8)
    } else {
      lru.delete(key)
      model = model.filter((k) => k !== key)
    }
    if (step % 50 === 0 || step === 4999) t.same([...lru.keys()], model, `step ${step}: order`)
  }
})
