import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { forgePlaybackToken } from '../helpers/forge.js'
import { mediaDir } from '../helpers/media.js'
import { registerAccount } from '../plugins/accounts.js'
import { makeLadder, publishVideo } from '../delivery/fixtures.js'
import { del, get, listen, uploadCaptions } from './helpers.js'

// Captions in HLS: a SUBTITLES group in the master playlist, segmented WebVTT whose X-TIMESTAMP-MAP
// names the media's first PTS as ffprobe reads it, and ffmpeg reading the subtitle stream from the master playlist.

const ladder = await makeLadder(t, 4)
const { app } = await buildTestApp(t)
const base = await listen(t, app)
await registerAccount(app, 'admin')
const owner = await registerAccount(app, 'owner')
const ffprobe = process.env.FFPROBE_PATH ?? 'ffprobe'

const EN = 'WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nfirst words\n\n00:00:02.200 --> 00:00:03.600\nacross a boundary\n'
const DE = 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nerste Worte\n'

/** ffprobe as a child process (asynchronously: it reads from the server in this process). */
async function probeJson (args: string[]): Promise<any> {
  const { stdout } = await promisify(execFile)(ffprobe, ['-v', 'error', '-of', 'json', ...args], { timeout: 60_000 })
  return JSON.parse(stdout)
}

t.test('the master playlist lists a subtitle group while the video has captions', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id })
  const plain = await get(base, `/hls/${video._id}/master.m3u8`)
  t.notMatch(plain.text, /SUBTITLES/, 'no captions, no group')

  t.equal((await uploadCaptions(base, video._id, EN, { language: 'en' }, owner.auth)).status, 201)
  t.equal((await uploadCaptions(base, video._id, DE, { language: 'de' }, owner.auth)).status, 201)
  await new Promise((resolve) => setTimeout(resolve, 1100)) // delivery reuses a video document for up to 1 s
  const master = (await get(base, `/hls/${video._id}/master.m3u8`)).text
  const media = master.split('\n').filter((l) => l.startsWith('#EXT-X-MEDIA:TYPE=SUBTITLES'))
  t.equal(media.length, 2)
  t.match(media.find((l) => l.includes('LANGUAGE="en"')), /GROUP-ID="subs",NAME="English",.*URI="subtitles\/en\/index\.m3u8\?sid=/)
  t.match(media.find((l) => l.includes('LANGUAGE="de"')), /NAME="Deutsch"/)
  const variants = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:'))
  t.equal(variants.length, 2)
  for (const v of variants) t.match(v, /,SUBTITLES="subs"$/)

  // The subtitle media playlist: 1 s segments like the video's, covering its 4 s.
  const playlist = (await get(base, `/hls/${video._id}/subtitles/en/index.m3u8`)).text
  const segments = playlist.split('\n').filter((l) => l.endsWith('.vtt'))
  t.same(segments, ['segment-00000.vtt', 'segment-00001.vtt', 'segment-00002.vtt', 'segment-00003.vtt'])
  t.match(playlist, /#EXT-X-ENDLIST/)

  // X-TIMESTAMP-MAP: local 0 is the first PTS of the media, as ffprobe reads the first segment.
  const dir = await mediaDir(t)
  const first = join(dir, 'segment-00000.ts')
  await writeFile(first, ladder.get('180p/segment-00000.ts')!)
  const streams = (await probeJson(['-show_entries', 'stream=start_pts', first])).streams as Array<{ start_pts: number }>
  const startPts = Math.min(...streams.map((s) => s.start_pts))
  t.ok(startPts > 0, `ffprobe's first PTS ${startPts}`)
  const seg0 = (await get(base, `/hls/${video._id}/subtitles/en/segment-00000.vtt`)).text
  // The cues are written on the MPEG-TS timeline (media time + the first PTS, to the millisecond),
  // and the map is the identity there, so players that ignore it (ffmpeg) agree with those that apply it.
  const startMs = Math.round(startPts / 90)
  const stamp = (ms: number): string => new Date(ms).toISOString().slice(11, 23)
  t.equal(seg0, `WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:${startMs * 90},LOCAL:${stamp(startMs)}\n\n${stamp(500 + startMs)} --> ${stamp(1500 + startMs)}\nfirst words\n\n`)
  const seg2 = (await get(base, `/hls/${video._id}/subtitles/en/segment-00002.vtt`)).text
  const seg3 = (await get(base, `/hls/${video._id}/subtitles/en/segment-00003.vtt`)).text
  const across = `${stamp(2200 + startMs)} --> ${stamp(3600 + startMs)}\nacross a boundary`
  t.ok(seg2.includes(across), seg2)
  t.ok(seg3.includes(across), 'a cue over a boundary is in both segments')
  const seg1 = (await get(base, `/hls/${video._id}/subtitles/en/segment-00001.vtt`)).text
  t.match(seg1, /first words/, 'the first cue runs into the second segment')
  t.notMatch(seg1, /across/, 'the later cue starts after it')
  t.equal((await get(base, `/hls/${video._id}/subtitles/en/segment-00004.vtt`)).status, 404)
  t.equal((await get(base, `/hls/${video._id}/subtitles/fr/index.m3u8`)).status, 404)

  // ffmpeg reads the group from the master playlist (5.1 needs -strict experimental to keep a
  // SUBTITLES rendition), and its cues land where the file says on the video's timeline, which
  // here starts at ffprobe's first PTS above, not at 0.
  const { stdout } = await promisify(execFile)(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-v', 'error', '-strict', 'experimental', '-i', `${base}/hls/${video._id}/master.m3u8`, '-map', '0:s:m:language:en', '-f', 'webvtt', '-'], { timeout: 60_000 })
  const times = [...stdout.matchAll(/(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d)\.(\d{3})\n(.+)/g)]
    .map((m) => [Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) / 1000, Number(m[4]) * 60 + Number(m[5]) + Number(m[6]) / 1000, m[7]])
  const unique = [...new Map(times.map((c) => [c.join('|'), c])).values()]
  t.same(unique.map((c) => c[2]), ['first words', 'across a boundary'], stdout)
  for (const [start, end, text] of [[0.5, 1.5, 'first words'], [2.2, 3.6, 'across a boundary']] as const) {
    const cue = unique.find((c) => c[2] === text)
    t.ok(cue !== undefined && Math.abs(Number(cue[0]) - start) < 0.5 && Math.abs(Number(cue[1]) - end) < 0.5, `ffmpeg: "${text}" at ${start}-${end} s (${cue?.[0]}-${cue?.[1]})`)
  }
  // ffprobe reads a segment alone as WebVTT, at MPEG-TS times.
  const packets = (await probeJson(['-show_entries', 'packet=pts_time,duration_time', `${base}/hls/${video._id}/subtitles/en/segment-00002.vtt`])).packets as Array<{ pts_time: string, duration_time: string }>
  t.same(packets.map((p) => [Number(p.pts_time), Number(p.duration_time)]), [[(2200 + startMs) / 1000, 1.4]])

  // Deleting a language takes it out of the master playlist.
  t.equal((await del(base, `/api/videos/${video._id}/captions/de`, owner.auth)).status, 204)
  t.equal((await del(base, `/api/videos/${video._id}/captions/en`, owner.auth)).status, 204)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.notMatch((await get(base, `/hls/${video._id}/master.m3u8`)).text, /SUBTITLES/)
})

t.test('a private video\'s subtitle URIs carry its playback token', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id, visibility: 'private' })
  t.equal((await uploadCaptions(base, video._id, EN, { language: 'en' }, owner.auth)).status, 201)
  const token = encodeURIComponent(forgePlaybackToken(app.secret, video._id, Math.floor(Date.now() / 1000) + 600))
  const master = (await get(base, `/hls/${video._id}/master.m3u8?token=${token}`)).text
  const uri = /TYPE=SUBTITLES.*URI="([^"]+)"/.exec(master)?.[1]
  t.match(uri, new RegExp(`^subtitles/en/index\\.m3u8\\?token=${token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}&sid=`))
  const playlist = await get(base, `/hls/${video._id}/${uri!}`)
  t.equal(playlist.status, 200)
  const segment = playlist.text.split('\n').find((l) => l.startsWith('segment-'))!
  t.match(segment, /\?token=/)
  t.equal((await get(base, `/hls/${video._id}/subtitles/en/${segment}`)).status, 200)
  t.equal((await get(base, `/hls/${video._id}/subtitles/en/index.m3u8`)).status, 404, 'without the token: as if missing')
  t.equal((await get(base, `/hls/${video._id}/subtitles/en/segment-00000.vtt`)).status, 404)
})
