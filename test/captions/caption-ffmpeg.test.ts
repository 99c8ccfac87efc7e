import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { makeClip } from '../helpers/media.js'
import { registerAccount } from '../plugins/accounts.js'
import { requireToolsForFile, toolPath } from '../helpers/requirements.js'
import { get, listen, uploadCaptions } from './helpers.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

// ffmpeg reads a Lectern master playlist over HTTP, subtitle group included, and the cues it takes
// from the segmented WebVTT come out at the times of the uploaded caption file. The video is
// uploaded and transcoded by Lectern itself (inline worker), so the MPEG-TS timestamps are the
// transcoder's, not a fixture's.
//
// ffmpeg 5.1's HLS demuxer drops SUBTITLES renditions ("Can't support the subtitle") unless the
// input is opened with `-strict experimental` (libavformat/hls.c, new_rendition: the check is
// `strict_std_compliance > FF_COMPLIANCE_EXPERIMENTAL`). With it, it reads each .vtt segment with
// its WebVTT demuxer, which ignores X-TIMESTAMP-MAP: the cue times must already be on the MPEG-TS
// timeline, which is how Lectern writes them.

const SEGMENT_SECONDS = 2
const { app } = await buildTestApp(t, { WORKER: 'inline', HLS_SEGMENT_SECONDS: String(SEGMENT_SECONDS) })
const base = await listen(t, app)
await registerAccount(app, 'admin')
const owner = await registerAccount(app, 'owner')
const clip = await readFile(await makeClip({ seconds: 8, width: 640, height: 360 }, t))

// The uploaded file, as SRT; the times the test expects are these, not what Lectern wrote.
const CUES: Array<[number, number, string]> = [[0.6, 1.4, 'good morning'], [3.5, 4.5, 'across a boundary'], [6.25, 7.5, 'later words']]
const srtTime = (s: number): string => `00:00:0${Math.floor(s)},${String(Math.round((s % 1) * 1000)).padStart(3, '0')}`
const SRT = CUES.map(([s, e, text], i) => `${i + 1}\r\n${srtTime(s)} --> ${srtTime(e)}\r\n${text}\r\n`).join('\r\n')

async function uploadVideo (visibility: 'public' | 'private'): Promise<string> {
  const form = new FormData()
  form.append('title', `Thermodynamics (${visibility})`)
  form.append('visibility', visibility)
  form.append('file', new Blob([clip]), 'thermo.mp4')
  const res = await fetch(`${base}/api/videos`, { method: 'POST', body: form, headers: owner.auth })
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`)
  const { id } = await res.json() as { id: string }
  const keepAlive = setInterval(() => {}, 1000)
  try {
    for (const end = Date.now() + 180_000; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 200))) {
      const v = (await get(base, `/api/videos/${id}`, owner.auth)).json
      if (v.status === 'ready') return id
      if (v.status === 'failed') throw new Error(`transcode failed: ${v.failureReason}`)
    }
  } finally {
    clearInterval(keepAlive)
  }
  throw new Error('not ready within 180 s')
}

/** WebVTT cue times (mm:ss.mmm or hh:mm:ss.mmm) in seconds. */
function seconds (stamp: string): number {
  const parts = stamp.split(':').map(Number)
  return parts.reduce((sum, p) => sum * 60 + p, 0)
}

/** ffmpeg opens the master playlist and writes its first subtitle stream as WebVTT; the cues, in order. */
async function ffmpegCues (url: string): Promise<{ cues: Array<[number, number, string]>, stderr: string }> {
  const { stdout, stderr } = await promisify(execFile)(toolPath('ffmpeg'), ['-hide_banner', '-nostdin', '-v', 'warning', '-strict', 'experimental', '-i', url, '-map', '0:s:0', '-f', 'webvtt', '-'], { timeout: 120_000, maxBuffer: 1 << 20 })
  const cues: Array<[number, number, string]> = []
  for (const block of stdout.replace(/\r\n/g, '\n').split('\n\n')) {
    const m = /^(?:.*\n)?([\d:.]+) --> ([\d:.]+)[^\n]*\n([\s\S]+)$/.exec(block.trim())
    if (m !== null) cues.push([seconds(m[1]!), seconds(m[2]!), m[3]!.trim()])
  }
  return { cues, stderr }
}

function checkCues (t: Test, got: Array<[number, number, string]>): void {
  // A cue across a segment boundary is in both segments; hls.js drops the repeat, ffmpeg keeps it.
  const unique = [...new Map(got.map((c) => [c.join('|'), c])).values()]
  t.same(unique.map((c) => c[2]), CUES.map((c) => c[2]), `ffmpeg read the three cues (${JSON.stringify(got)})`)
  for (const [start, end, text] of CUES) {
    const cue = unique.find((c) => c[2] === text)
    t.ok(cue !== undefined && Math.abs(cue[0] - start) < 0.5 && Math.abs(cue[1] - end) < 0.5, `"${text}" at ${start}-${end} s as uploaded (ffmpeg: ${cue?.[0]}-${cue?.[1]})`)
    // Closer than that: the transcoder's media starts about 45 ms after 0, and cues written
    // without that start (as before) came out that much early.
    t.ok(cue !== undefined && Math.abs(cue[0] - start) <= 0.002 && Math.abs(cue[1] - end) <= 0.002, `"${text}" to the millisecond`)
  }
}

t.test('ffmpeg reads the subtitle group of a public video at the uploaded times', async (t) => {
  const id = await uploadVideo('public')
  const up = await uploadCaptions(base, id, SRT, { language: 'en', label: 'English' }, owner.auth, 'lecture.srt')
  t.equal(up.status, 201, up.text)
  // The URL a player is given: its URIs carry ?sid= on the subtitle playlist as on the variants.
  const playback = (await get(base, `/api/videos/${id}/playback`)).json
  await new Promise((resolve) => setTimeout(resolve, 1100)) // delivery reuses a video document for up to 1 s
  t.match((await get(base, playback.hlsUrl)).text, /TYPE=SUBTITLES.*URI="subtitles\/en\/index\.m3u8\?sid=/)
  const { cues, stderr } = await ffmpegCues(base + playback.hlsUrl)
  t.notMatch(stderr, /Can't support the subtitle/)
  checkCues(t, cues)
})

t.test('and of a private one, through its playback token', async (t) => {
  const id = await uploadVideo('private')
  t.equal((await uploadCaptions(base, id, SRT, { language: 'en' }, owner.auth, 'lecture.srt')).status, 201)
  const playback = (await get(base, `/api/videos/${id}/playback`, owner.auth)).json
  t.match(playback.hlsUrl, /[?&]token=/)
  const { cues } = await ffmpegCues(base + playback.hlsUrl)
  checkCues(t, cues)
})
