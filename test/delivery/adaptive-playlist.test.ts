import t from 'tap'
import { adaptivePlaylist } from '../../src/delivery/adaptive-playlist.js'

const media = [
  '#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:4', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXTINF:4.000000,', 'segment-00000.ts',
  '#EXTINF:4.000000,', 'segment-00001.ts',
  '#EXTINF:2.500000,', 'segment-00002.ts',
  '#EXT-X-ENDLIST', ''
].join('\n')

t.test('segment URIs become rendition-agnostic; durations and header tags are kept', async (t) => {
  const out = adaptivePlaylist(media, 3, (i) => `/adaptive_stream/abc/${i}.ts`)
  t.equal(out, [
    '#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:4', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXTINF:4.000000,', '/adaptive_stream/abc/0.ts',
    '#EXTINF:4.000000,', '/adaptive_stream/abc/1.ts',
    '#EXTINF:2.500000,', '/adaptive_stream/abc/2.ts',
    '#EXT-X-ENDLIST', ''
  ].join('\n'))
})

t.test('only the segments every rendition has are listed, with their EXTINF', async (t) => {
  const out = adaptivePlaylist(media, 2, (i) => `s${i}`)
  t.notMatch(out, /2\.500000/)
  t.notMatch(out, /s2/)
  t.match(out, /#EXTINF:4\.000000,\ns1\n#EXT-X-ENDLIST\n$/)
})

t.test('CRLF playlists keep CRLF', async (t) => {
  const out = adaptivePlaylist(media.replace(/\n/g, '\r\n'), 3, (i) => `s${i}`)
  t.match(out, /^#EXTM3U\r\n/)
  t.equal(out.split('\r\n').filter((l) => l.startsWith('s')).length, 3)
})
