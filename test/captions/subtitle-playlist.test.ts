import t from 'tap'
import { addSubtitleGroup, subtitlePlaylist, subtitleSegment } from '../../src/captions/subtitle-playlist.js'
import { firstPts } from '../../src/captions/first-pts.js'
import type { CaptionCue } from '../../src/captions/caption-cue.js'

const MASTER = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=664000,RESOLUTION=640x360\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=264000,RESOLUTION=320x180\n180p/index.m3u8\n'

t.test('addSubtitleGroup: one rendition per track before the variants, the group on every variant', async (t) => {
  t.equal(addSubtitleGroup(MASTER, []), MASTER, 'no tracks: unchanged')
  const out = addSubtitleGroup(MASTER, [
    { language: 'en', label: 'English', uri: 'subtitles/en/index.m3u8' },
    { language: 'en-GB', label: 'English', uri: 'subtitles/en-GB/index.m3u8' },
    { language: 'fr', label: 'Le "bon" français', uri: 'subtitles/fr/index.m3u8' }
  ])
  t.equal(out, '#EXTM3U\n#EXT-X-VERSION:3\n' +
    '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subtitles/en/index.m3u8"\n' +
    '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English (en-GB)",LANGUAGE="en-GB",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subtitles/en-GB/index.m3u8"\n' +
    '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Le  bon  français",LANGUAGE="fr",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subtitles/fr/index.m3u8"\n' +
    '#EXT-X-STREAM-INF:BANDWIDTH=664000,RESOLUTION=640x360,SUBTITLES="subs"\n360p/index.m3u8\n' +
    '#EXT-X-STREAM-INF:BANDWIDTH=264000,RESOLUTION=320x180,SUBTITLES="subs"\n180p/index.m3u8\n', 'names unique, quotes kept out of quoted strings')
  t.equal(addSubtitleGroup(MASTER.replace(/\n/g, '\r\n'), [{ language: 'en', label: 'English', uri: 'u' }]).split('\r\n')[3], '#EXT-X-STREAM-INF:BANDWIDTH=664000,RESOLUTION=640x360,SUBTITLES="subs"', 'CRLF kept')
})

t.test('subtitlePlaylist and subtitleSegment', async (t) => {
  t.equal(subtitlePlaylist(9.5, 4), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n' +
    '#EXTINF:4.000,\nsegment-00000.vtt\n#EXTINF:4.000,\nsegment-00001.vtt\n#EXTINF:1.500,\nsegment-00002.vtt\n#EXT-X-ENDLIST\n')
  const cue = (start: number, end: number, text: string): CaptionCue => ({ start, end, id: '', settings: '', text, plain: text })
  const cues = [cue(1, 2, 'a'), cue(3.5, 4.5, 'b'), cue(8, 9, 'c')]
  // On the MPEG-TS timeline: 900000 is 10 s, so the cue said at 3.5 s is written at 13.5 s.
  t.equal(subtitleSegment(cues, 1, 4, 900000), 'WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:10.000\n\n00:00:13.500 --> 00:00:14.500\nb\n\n')
  // 131110 is 1.456778 s: to the millisecond, with MPEGTS the same instant (1.457 s x 90000).
  t.equal(subtitleSegment(cues, 2, 4, 131110), 'WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:131130,LOCAL:00:00:01.457\n\n00:00:09.457 --> 00:00:10.457\nc\n\n')
  t.equal(subtitleSegment(cues, 0, 4, 0), 'WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n00:00:01.000 --> 00:00:02.000\na\n\n00:00:03.500 --> 00:00:04.500\nb\n\n')
})

/** A 188-byte TS packet starting a PES with a PTS, encoded as ISO/IEC 13818-1 2.4.3.7 lays it out. */
function pesPacket (pid: number, streamId: number, pts: number, adaptation = 0): Buffer {
  const p = Buffer.alloc(188, 0xff)
  p[0] = 0x47
  p[1] = 0x40 | (pid >> 8)
  p[2] = pid & 0xff
  let at = 4
  if (adaptation > 0) {
    p[3] = 0x30
    p[4] = adaptation
    at = 5 + adaptation
  } else {
    p[3] = 0x10
  }
  const hi = Math.floor(pts / 2 ** 30)
  const mid = Math.floor(pts / 2 ** 15) % 2 ** 15
  const lo = pts % 2 ** 15
  Buffer.from([0, 0, 1, streamId, 0, 0, 0x80, 0x80, 5,
    0x21 | (hi << 1), mid >> 7, ((mid & 0x7f) << 1) | 1, lo >> 7, ((lo & 0x7f) << 1) | 1]).copy(p, at)
  return p
}

t.test('firstPts: the earliest audio or video PTS, 33 bits', async (t) => {
  const pat = Buffer.alloc(188, 0xff)
  pat.set([0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xb0])
  t.equal(firstPts(Buffer.concat([pat, pesPacket(0x100, 0xe0, 133_500), pesPacket(0x101, 0xc0, 126_000, 7), pesPacket(0x100, 0xe0, 137_100)])), 126_000)
  t.equal(firstPts(pesPacket(0x100, 0xe0, 2 ** 32 + 12_345)), 2 ** 32 + 12_345)
  t.equal(firstPts(pat), undefined, 'no PES, no PTS')
})
