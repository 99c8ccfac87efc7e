import t from 'tap'
import { sniffMedia } from '../../src/api/sniff-media.js'
import { makeClip } from '../helpers/media.js'
import { requireTools } from '../helpers/requirements.js'
import { readFile } from 'node:fs/promises'

t.test('real media containers pass', async (t) => {
  if (!requireTools(t, 'ffmpeg')) return
  for (const format of ['mp4', 'mkv', 'ts', 'mov'] as const) {
    const head = (await readFile(await makeClip({ seconds: 1, width: 64, height: 64, format }, t))).subarray(0, 512)
    t.same(sniffMedia(head), { ok: true }, format)
  }
  // WebM (EBML), AVI (RIFF....AVI ), FLV, raw H.264: binary from the first bytes
  t.same(sniffMedia(Buffer.from('1a45dfa3a34286810142f7810142f2810442f381084282887765626d', 'hex')), { ok: true }, 'webm')
  t.same(sniffMedia(Buffer.concat([Buffer.from('RIFF'), Buffer.from([1, 2, 3, 4]), Buffer.from('AVI LIST')])), { ok: true }, 'avi')
  t.same(sniffMedia(Buffer.from('464c5601050000000900000000', 'hex')), { ok: true }, 'flv')
  t.same(sniffMedia(Buffer.from('0000000167640028acd9', 'hex')), { ok: true }, 'h264 elementary stream')
})

t.test('what is certainly not a video is named', async (t) => {
  const cases: Array<[Buffer, string]> = [
    [Buffer.from('%PDF-1.4\n%\xe2\xe3'), 'a PDF document'],
    [Buffer.from('89504e470d0a1a0a', 'hex'), 'a PNG image'],
    [Buffer.from('ffd8ffe000104a464946', 'hex'), 'a JPEG image'],
    [Buffer.from('GIF89a\x01\x00'), 'a GIF image'],
    [Buffer.from('504b030414000600', 'hex'), 'a ZIP archive (or an Office document)'],
    [Buffer.from('1f8b0800', 'hex'), 'a gzip archive'],
    [Buffer.concat([Buffer.from('RIFF'), Buffer.from([1, 2, 3, 4]), Buffer.from('WAVEfmt ')]), 'a WAV audio file'],
    [Buffer.from('7f454c46020101', 'hex'), 'an executable'],
    [Buffer.from('hello, world\r\n\tthis is text'), 'text'],
    [Buffer.from('Grüße aus Köln — notes'), 'text'],
    [Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\n'), 'text'],
    [Buffer.from("ffconcat version 1.0\nfile '/etc/passwd'\n"), 'text']
  ]
  for (const [head, detected] of cases) t.same(sniffMedia(head), { ok: false, detected }, detected)
})

t.test('a UTF-8 character cut at the end of the sniffed bytes is still text', async (t) => {
  const text = Buffer.from('é'.repeat(300))
  t.same(sniffMedia(text.subarray(0, 511)), { ok: false, detected: 'text' })
})

t.test('binary bytes that are not valid UTF-8 are not text', async (t) => {
  t.same(sniffMedia(Buffer.from([0x41, 0x42, 0xff, 0xfe, 0x43])), { ok: true })
  t.same(sniffMedia(Buffer.alloc(0)), { ok: true }, 'nothing to judge: the empty-file check answers instead')
})
