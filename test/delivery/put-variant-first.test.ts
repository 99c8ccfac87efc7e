import t from 'tap'
import { putVariantFirst } from '../../src/delivery/put-variant-first.js'

const master = [
  '#EXTM3U',
  '#EXT-X-VERSION:1',
  '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080',
  '1080p/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720',
  '720p/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360',
  '',
  '360p/index.m3u8',
  ''
].join('\n')

t.test('the named variant moves to the top, the others keep their order', async (t) => {
  t.equal(putVariantFirst(master, '720p/index.m3u8'), [
    '#EXTM3U', '#EXT-X-VERSION:1', '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720', '720p/index.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080', '1080p/index.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360', '', '360p/index.m3u8', ''
  ].join('\n'))
  const low = putVariantFirst(master, '360p/index.m3u8').split('\n')
  t.same(low.slice(3, 6), ['#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360', '', '360p/index.m3u8'], 'a blank line inside a variant moves with it')
  t.equal(low.filter((l) => l.startsWith('#EXT-X-STREAM-INF')).length, 3, 'every variant stays listed')
})

t.test('already first, unknown URI, or no variants: unchanged', async (t) => {
  t.equal(putVariantFirst(master, '1080p/index.m3u8'), master)
  t.equal(putVariantFirst(master, '144p/index.m3u8'), master)
  t.equal(putVariantFirst('#EXTM3U\n', 'x'), '#EXTM3U\n')
})
