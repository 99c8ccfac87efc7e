import t from 'tap'
import { writeMasterPlaylist } from '../../transcoder/write-master-playlist.js'
import { writeMediaPlaylist } from '../../transcoder/write-media-playlist.js'
import { peakBitrate, averageBitrate, targetDurationOf, parseMediaPlaylist, codecFromAnnexB } from '../../transcoder/measure-rendition.js'
import { FfmpegProgress } from '../../transcoder/ffmpeg-progress.js'
import type { Rendition } from '../../src/db/documents.js'

const rung = (name: string, bandwidth: number, w: number, h: number): Rendition =>
  ({ name, width: w, height: h, frameRate: 30, bandwidth, averageBandwidth: Math.round(bandwidth * 0.8), codecs: 'avc1.64001f,mp4a.40.2', segmentCount: 3 })

t.test('master playlist: measured figures, highest first, lowest version', async (t) => {
  const text = writeMasterPlaylist([rung('360p', 900_000, 640, 360), rung('720p', 3_100_000, 1280, 720)])
  t.equal(text, [
    '#EXTM3U',
    '#EXT-X-VERSION:1',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-STREAM-INF:BANDWIDTH=3100000,AVERAGE-BANDWIDTH=2480000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000',
    '720p/index.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=720000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=30.000',
    '360p/index.m3u8',
    ''
  ].join('\n'))
  t.throws(() => writeMasterPlaylist([]))
})

t.test('media playlist round-trips', async (t) => {
  const text = writeMediaPlaylist([4, 4, 1.5], 4)
  t.match(text, /#EXT-X-VERSION:3\n/)
  t.match(text, /#EXT-X-PLAYLIST-TYPE:VOD\n/)
  t.match(text, /#EXT-X-ENDLIST\n$/)
  t.same(parseMediaPlaylist(text), [{ uri: 'segment-00000.ts', duration: 4 }, { uri: 'segment-00001.ts', duration: 4 }, { uri: 'segment-00002.ts', duration: 1.5 }])
})

t.test('RFC 8216 peak: runs of 0.5..1.5x the target duration', async (t) => {
  const segs = [{ duration: 4, size: 500_000 }, { duration: 4, size: 1_000_000 }, { duration: 0.5, size: 200_000 }]
  // The short last segment alone (3.2 Mb/s) is too short to count; with its neighbour it is 2.13 Mb/s,
  // more than the middle segment's 2 Mb/s.
  t.equal(peakBitrate(segs, 4), (1_200_000 * 8) / 4.5)
  t.equal(averageBitrate(segs), (1_700_000 * 8) / 8.5)
  t.equal(targetDurationOf(segs), 4)
  t.equal(peakBitrate([{ duration: 1, size: 1000 }], 4), 8000, 'too short for any run: the whole rate')
})

t.test('CODECS from the SPS bytes', async (t) => {
  t.equal(codecFromAnnexB(Buffer.from([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac])), 'avc1.64001f')
  t.equal(codecFromAnnexB(Buffer.from([0, 0, 1, 0x67, 0x4d, 0x40, 0x28, 0])), 'avc1.4d4028')
  t.equal(codecFromAnnexB(Buffer.from([0, 0, 1, 0x65, 1, 2, 3, 4])), null)
})

t.test('ffmpeg -progress output: fraction and time left', async (t) => {
  let now = 0
  const p = new FfmpegProgress(10, () => now)
  t.equal(p.push('frame=1\nout_time_us=0\nprogress=cont'), null, 'a report counts once complete')
  t.equal(p.push('inue\n'), 0)
  now = 2000
  t.equal(p.push('out_time_us=2000000\nspeed=1x\nprogress=continue\nout_time_us=N/A\n'), 0.2)
  t.equal(p.etaSeconds(), 8)
  t.equal(p.push('out_time_ms=9000000\nprogress=end\n'), 1)
  t.equal(p.etaSeconds(), 0)
})
