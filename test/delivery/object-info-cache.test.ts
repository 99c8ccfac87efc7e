import t from 'tap'
import { ObjectInfoCache } from '../../src/delivery/object-info-cache.js'
import type { ObjectInfo } from '../../src/storage/object-store.js'

const info = (key: string): ObjectInfo => ({ key, size: key.length, etag: `"${key}"`, lastModified: new Date(0) })

t.test('one head() per key, shared by concurrent callers, then answered synchronously', async (t) => {
  const heads: string[] = []
  const cache = new ObjectInfoCache(async (key) => { heads.push(key); return info(key) })
  const [a, b] = await Promise.all([cache.get('x'), cache.get('x')])
  t.same(a, info('x'))
  t.equal(a, b)
  t.same(heads, ['x'])
  t.same(cache.get('x'), info('x'), 'now synchronous')
  t.notOk(cache.get('x') instanceof Promise)
  t.same(cache.peek('x'), info('x'))
})

t.test('a failed head() is not remembered', async (t) => {
  let fail = true
  const cache = new ObjectInfoCache(async (key) => { if (fail) throw new Error('gone'); return info(key) })
  await t.rejects(Promise.resolve(cache.get('y')), /gone/)
  fail = false
  t.same(await cache.get('y'), info('y'))
})

t.test('bounded: the oldest entry goes first; forget and forgetPrefix', async (t) => {
  const cache = new ObjectInfoCache(async (key) => info(key), 2)
  await cache.get('a/1')
  await cache.get('a/2')
  await cache.get('b/1')
  t.equal(cache.size, 2)
  t.equal(cache.peek('a/1'), undefined)
  cache.forgetPrefix('a/')
  t.equal(cache.peek('a/2'), undefined)
  cache.forget('b/1')
  t.equal(cache.size, 0)
})
