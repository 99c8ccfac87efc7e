import t from 'tap'
import { rewritePlaylist } from '../../src/delivery/rewrite-playlist.js'

t.test('master playlist: variant and rendition URIs carry the token', async (t) => {
  const master = [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI="audio/index.m3u8"',
    '#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
    '720p/index.m3u8',
    '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="720p/iframes.m3u8"',
    '#EXT-X-STREAM-INF:BANDWIDTH=800000',
    '360p/index.m3u8?lang=en',
    ''
  ].join('\n')
  t.equal(rewritePlaylist(master, { token: 'T.k' }), [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI="audio/index.m3u8?token=T.k"',
    '#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
    '720p/index.m3u8?token=T.k',
    '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="720p/iframes.m3u8?token=T.k"',
    '#EXT-X-STREAM-INF:BANDWIDTH=800000',
    '360p/index.m3u8?lang=en&token=T.k',
    ''
  ].join('\n'))
})

t.test('media playlist with CRLF, EXT-X-MAP, EXT-X-KEY, fragments, absolute URIs and stale tokens', async (t) => {
  const media = [
    '#EXTM3U',
    '#EXT-X-TARGETDURATION:4',
    '#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV=0x1',
    '#EXT-X-MAP:URI="init.mp4"',
    '# a comment with URI="x"',
    '#EXTINF:4.000,',
    'segment-00000.ts',
    '#EXTINF:4.000,',
    '  segment-00001.ts?token=old&x=1#t=2  ',
    '#EXTINF:4.000,',
    'https://cdn.example/segment-00002.ts',
    '#EXTINF:4.000,',
    '//cdn.example/segment-00003.ts',
    '#EXT-X-ENDLIST'
  ].join('\r\n')
  t.equal(rewritePlaylist(media, { token: 'a b' }), [
    '#EXTM3U',
    '#EXT-X-TARGETDURATION:4',
    '#EXT-X-KEY:METHOD=AES-128,URI="key.bin?token=a%20b",IV=0x1',
    '#EXT-X-MAP:URI="init.mp4?token=a%20b"',
    '# a comment with URI="x"',
    '#EXTINF:4.000,',
    'segment-00000.ts?token=a%20b',
    '#EXTINF:4.000,',
    'segment-00001.ts?x=1&token=a%20b#t=2',
    '#EXTINF:4.000,',
    'https://cdn.example/segment-00002.ts',
    '#EXTINF:4.000,',
    '//cdn.example/segment-00003.ts',
    '#EXT-X-ENDLIST'
  ].join('\r\n'))
})

t.test('several parameters: each is added once, a stale one of either name is replaced, others kept', async (t) => {
  const media = '#EXTM3U\n#EXTINF:4.0,\nsegment-00000.ts?sid=old&x=1\n#EXTINF:4.0,\nsegment-00001.ts\n'
  t.equal(rewritePlaylist(media, { token: 'T', sid: 's 1' }),
    '#EXTM3U\n#EXTINF:4.0,\nsegment-00000.ts?x=1&token=T&sid=s%201\n#EXTINF:4.0,\nsegment-00001.ts?token=T&sid=s%201\n')
  t.equal(rewritePlaylist(media, {}), media, 'no parameters: unchanged')
  t.equal(rewritePlaylist('a.ts?sidecar=1\n', { sid: 'z' }), 'a.ts?sidecar=1&sid=z\n', 'a parameter whose name only starts with sid is kept')
})
