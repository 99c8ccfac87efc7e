import t from 'tap'
import type { ObjectInfo } from '../../src/storage/object-store.js'
import { upcomingSegmentBits } from '../../src/delivery/upcoming-segment-bits.js'

const info = (key: string, size: number): ObjectInfo => ({ key, size, etag: '"x"', lastModified: new Date(0) })
const keyOf = (rung: number, segment: number) => `r${rung}/s${segment}`
// sizes: rung r, segment s -> 1000 x (r + 1) + s bytes
const size = (key: string) => { const [, r, s] = /^r(\d+)\/s(\d+)$/.exec(key)!; return 1000 * (Number(r) + 1) + Number(s) }

t.test('bits of every rung for this segment and the next four, from known and fetched sizes alike', async (t) => {
  const heads: string[] = []
  const lookup = (key: string) => {
    // even segments are known, odd ones need a head()
    if (Number(key.split('/s')[1]) % 2 === 0) return info(key, size(key))
    heads.push(key)
    return Promise.resolve(info(key, size(key)))
  }
  const rows = await upcomingSegmentBits(lookup, keyOf, 2, 3, 100)
  t.same(rows, [3, 4, 5, 6, 7].map((s) => [0, 1].map((r) => 8 * (1000 * (r + 1) + s))))
  t.same(heads.sort(), ['r0/s3', 'r0/s5', 'r0/s7', 'r1/s3', 'r1/s5', 'r1/s7'], 'one lookup per object, in parallel')
})

t.test('rows stop at the video\'s end and at the first segment some rung cannot size', async (t) => {
  const known = (key: string) => info(key, size(key))
  t.equal((await upcomingSegmentBits(known, keyOf, 3, 8, 10))!.length, 2, 'two segments left')
  const missing = (key: string) => key === 'r1/s6' ? Promise.reject(new Error('NoSuchKey')) : info(key, size(key))
  t.equal((await upcomingSegmentBits(missing, keyOf, 3, 4, 100))!.length, 2, 'segment 6 of rung 1 is not there (yet)')
  t.equal(await upcomingSegmentBits(missing, keyOf, 3, 6, 100), undefined, 'this segment unsized: no rows, the rule decides')
  t.equal(await upcomingSegmentBits((key) => info(key, 0), keyOf, 3, 0, 100), undefined, 'an empty object says nothing')
})
