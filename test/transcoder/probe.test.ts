import { createServer } from 'node:net'
import { writeFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { probe } from '../../transcoder/probe.js'
import { TranscodeError } from '../../transcoder/transcode-error.js'
import { makeClip, makeAudioOnly, mediaDir, runFfmpeg } from '../helpers/media.js'
import { requireToolsForFile } from '../helpers/requirements.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

/** A loopback TCP server that counts connections: an input must never make ffmpeg reach out. */
async function connectionCounter (t: Test) {
  let connections = 0
  const server = createServer((socket) => { connections++; socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const port = (server.address() as { port: number }).port
  return { port, count: () => connections }
}

async function rejects (t: Test, path: string, pattern: RegExp) {
  const err = await probe('ffprobe', path).then(() => null, (e: unknown) => e)
  t.ok(err instanceof TranscodeError, 'a TranscodeError')
  t.equal((err as TranscodeError).permanent, true, 'permanent: retrying cannot help')
  t.match((err as Error).message, pattern)
  return err as TranscodeError
}

t.test('a real clip: what the ladder needs to know', async (t) => {
  const clip = await makeClip({ seconds: 2, width: 320, height: 240, fps: 25 }, t)
  const info = await probe('ffprobe', clip)
  t.match(info, { videoCodec: 'h264', audioCodec: 'aac', width: 320, height: 240, frameRate: 25 })
  t.ok(Math.abs(info.duration - 2) < 0.1)
  t.ok(info.bitrate > 0)
  t.match(info.container, /mp4/)
})

t.test('other real containers are accepted', async (t) => {
  const mkv = await makeClip({ seconds: 1, width: 160, height: 90, format: 'mkv' }, t)
  t.match((await probe('ffprobe', mkv)).container, /matroska/)
  const ts = await makeClip({ seconds: 1, width: 160, height: 90, format: 'ts' }, t)
  t.equal((await probe('ffprobe', ts)).container, 'mpegts')
})

t.test('phone video: rotation metadata turns the ladder portrait', async (t) => {
  const dir = await mediaDir(t)
  const clip = await makeClip({ seconds: 1, width: 320, height: 180, dir }, t)
  const rotated = join(dir, 'rotated.mp4')
  runFfmpeg(['-i', clip, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated])
  const info = await probe('ffprobe', rotated)
  t.equal(`${info.width}x${info.height}`, '180x320')
})

t.test('a text file is refused', async (t) => {
  const dir = await mediaDir(t)
  const path = join(dir, 'notes.mp4')
  await writeFile(path, 'These are my lecture notes, not a video.\n'.repeat(50))
  await rejects(t, path, /^unsupported input: /)
})

t.test('an empty file is refused', async (t) => {
  const dir = await mediaDir(t)
  const path = join(dir, 'empty.mp4')
  await writeFile(path, '')
  await rejects(t, path, /empty/)
})

t.test('an audio-only file is refused: no video stream', async (t) => {
  await rejects(t, await makeAudioOnly({}, t), /no video stream/)
})

t.test('a truncated file is refused with a reason', async (t) => {
  const dir = await mediaDir(t)
  const clip = await makeClip({ seconds: 2, width: 320, height: 180, dir }, t)
  const bytes = await readFile(clip)
  const path = join(dir, 'truncated.mp4')
  // The MP4's index (moov) is at the end: cut it off.
  await writeFile(path, bytes.subarray(0, Math.floor(bytes.length / 2)))
  await rejects(t, path, /could not be read as media.*moov atom not found/)
})

t.test('an HLS playlist disguised as .mp4 is refused and opens nothing', async (t) => {
  const dir = await mediaDir(t)
  const counter = await connectionCounter(t)
  const real = await makeClip({ seconds: 1, width: 160, height: 90, format: 'ts', dir }, t)
  const path = join(dir, 'lecture.mp4')
  await writeFile(path, [
    '#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXTINF:4,', `http://127.0.0.1:${counter.port}/steal.ts`,
    '#EXTINF:4,', `file://${real}`,
    '#EXTINF:4,', '/etc/passwd',
    '#EXT-X-ENDLIST', ''
  ].join('\n'))
  await rejects(t, path, /^unsupported input: not a media container/)
  t.equal(counter.count(), 0, 'no connection was made')
})

t.test('an ffconcat list disguised as .mp4 is refused', async (t) => {
  const dir = await mediaDir(t)
  const real = await makeClip({ seconds: 1, width: 160, height: 90, dir }, t)
  const path = join(dir, 'lecture.mp4')
  await writeFile(path, `ffconcat version 1.0\nfile '${real}'\n`)
  await rejects(t, path, /^unsupported input: not a media container/)
})

t.test('a missing ffprobe is a tool failure, not the video\'s fault', async (t) => {
  const clip = await makeClip({ seconds: 1, width: 160, height: 90 }, t)
  const err = await probe('/nonexistent/ffprobe', clip).then(() => null, (e: unknown) => e)
  t.ok(err instanceof TranscodeError)
  t.equal((err as TranscodeError).permanent, false)
  t.match((err as Error).message, /could not be started/)
})

t.test('frame rates: a variable-rate time base is not taken for a frame rate', async (t) => {
  const { sourceInfoFrom } = await import('../../transcoder/probe.js')
  const base = { format: { format_name: 'matroska,webm', duration: '10', bit_rate: '1000000' } }
  const video = (avg: string, r: string) => ({ ...base, streams: [{ codec_type: 'video', codec_name: 'vp8', width: 1280, height: 720, avg_frame_rate: avg, r_frame_rate: r }] })
  t.equal(sourceInfoFrom(video('30000/1001', '30000/1001'), 1).frameRate, 29.97)
  t.equal(sourceInfoFrom(video('0/0', '25/1'), 1).frameRate, 25)
  t.equal(sourceInfoFrom(video('1000/1', '1000/1'), 1).frameRate, 30, 'browser recordings: 30 fps')
  t.throws(() => sourceInfoFrom({ ...base, streams: [{ codec_type: 'video', width: 0, height: 0 }] }, 1), /no picture size/)
  t.throws(() => sourceInfoFrom({ format: { duration: '0' }, streams: [{ codec_type: 'video', width: 10, height: 10, avg_frame_rate: '30/1' }] }, 1), /no duration/)
  t.throws(() => sourceInfoFrom({ ...base, streams: [{ codec_type: 'video', width: 10, height: 10, disposition: { attached_pic: 1 } }, { codec_type: 'audio' }] }, 1), /no video stream/, 'cover art is not a video')
})

t.test('field order, the default audio track and subtitle streams, from ffprobe\'s JSON', async (t) => {
  const { sourceInfoFrom } = await import('../../transcoder/probe.js')
  const base = { format: { format_name: 'matroska,webm', duration: '10', bit_rate: '1000000' } }
  const v = (fieldOrder?: string) => ({ codec_type: 'video', codec_name: 'mpeg2video', width: 720, height: 576, avg_frame_rate: '25/1', field_order: fieldOrder })
  for (const order of ['tt', 'bb', 'tb', 'bt']) t.equal(sourceInfoFrom({ ...base, streams: [v(order)] }, 1).interlaced, true, order)
  for (const order of ['progressive', 'unknown', undefined]) t.equal(sourceInfoFrom({ ...base, streams: [v(order)] }, 1).interlaced, false, String(order))
  const audio = (codec: string, isDefault: number) => ({ codec_type: 'audio', codec_name: codec, disposition: { default: isDefault } })
  const dub = sourceInfoFrom({ ...base, streams: [v(), audio('ac3', 0), audio('aac', 1)] }, 1)
  t.match(dub, { audioStream: 1, audioCodec: 'aac' }, 'the default track, and its codec')
  t.match(sourceInfoFrom({ ...base, streams: [v(), audio('ac3', 0), audio('aac', 0)] }, 1), { audioStream: 0, audioCodec: 'ac3' }, 'none marked: the first')
  t.match(sourceInfoFrom({ ...base, streams: [v()] }, 1), { audioStream: null, audioCodec: null })
  const subs = sourceInfoFrom({ ...base, streams: [v(), { codec_type: 'subtitle', codec_name: 'subrip', tags: { language: 'eng', title: ' SDH ' } }, { codec_type: 'subtitle', codec_name: 'dvd_subtitle' }] }, 1)
  t.same(subs.subtitles, [{ index: 0, codec: 'subrip', language: 'eng', title: 'SDH' }, { index: 1, codec: 'dvd_subtitle', language: null, title: null }])
})
