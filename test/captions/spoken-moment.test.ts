import { execFile, spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { mediaDir, runFfmpeg } from '../helpers/media.js'
import { registerAccount } from '../plugins/accounts.js'
import { requireToolsForFile, toolPath, underCi } from '../helpers/requirements.js'
import { get, listen, uploadCaptions } from './helpers.js'

// Search finds the moment a word is said: a lecture whose sound is speech (espeak-ng) with a
// caption of what it says; Lectern transcodes it, and a search for a word said in the second
// sentence gives a moment that is the cue and is where that sentence is heard in the audio Lectern
// serves (found by ffmpeg's silencedetect, not from the caption).

requireToolsForFile(t, 'ffmpeg', 'ffprobe')
const ESPEAK = process.env.ESPEAK_PATH ?? 'espeak-ng'
const espeak = spawnSync(ESPEAK, ['--version'], { encoding: 'utf8' })
if (espeak.error !== undefined || espeak.status !== 0) {
  const why = `${ESPEAK} is not runnable; install it with apt-get install -y espeak-ng`
  if (underCi()) throw new Error(`required in CI: ${why}`)
  t.comment(`skipping: ${why}`)
  t.plan(0, why)
  process.exit(0)
}

const dir = await mediaDir(t)
const SENTENCES = ['Light reactions come first.', 'Then the Calvin cycle makes sugar.']
const GAP = 1.5 // seconds of silence before, between and after the sentences

const probeDuration = (file: string): number => Number(spawnSync(toolPath('ffprobe'), ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' }).stdout)

// Each sentence as its own WAV, trimmed of espeak's own leading and trailing silence, so the
// times at which they are joined are the times they are said.
const spoken: Array<{ file: string, seconds: number }> = []
for (const [i, text] of SENTENCES.entries()) {
  const raw = join(dir, `raw-${i}.wav`)
  const made = spawnSync(ESPEAK, ['-s', '150', '-w', raw, text], { encoding: 'utf8' })
  if (made.status !== 0) throw new Error(`espeak-ng: ${made.stderr}`)
  const file = join(dir, `said-${i}.wav`)
  runFfmpeg(['-i', raw, '-af', 'silenceremove=start_periods=1:start_threshold=-40dB,areverse,silenceremove=start_periods=1:start_threshold=-40dB,areverse', '-ar', '48000', '-ac', '1', file])
  spoken.push({ file, seconds: probeDuration(file) })
}
const cues = spoken.map((s, i) => {
  const start = GAP * (i + 1) + spoken.slice(0, i).reduce((sum, p) => sum + p.seconds, 0)
  return { start, end: start + s.seconds, text: SENTENCES[i]! }
})
const total = cues[cues.length - 1]!.end + GAP

// The lecture: a test picture and the sentences with silence around them.
const clip = join(dir, 'lecture.mp4')
const silence = (s: number, label: string): string => `anullsrc=r=48000:cl=mono,atrim=duration=${s.toFixed(3)}[${label}]`
runFfmpeg([
  '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=25:duration=${total.toFixed(3)}`,
  '-i', spoken[0]!.file, '-i', spoken[1]!.file,
  '-filter_complex', `${silence(GAP, 's0')};${silence(GAP, 's1')};${silence(GAP, 's2')};[s0][1:a][s1][2:a][s2]concat=n=5:v=0:a=1[a]`,
  '-map', '0:v', '-map', '[a]', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k', '-t', total.toFixed(3), clip
])

const stamp = (s: number): string => new Date(Math.round(s * 1000)).toISOString().slice(11, 23)
const vtt = 'WEBVTT\n\n' + cues.map((c) => `${stamp(c.start)} --> ${stamp(c.end)}\n${c.text}\n`).join('\n')

const { app } = await buildTestApp(t, { WORKER: 'inline', HLS_SEGMENT_SECONDS: '2' })
const base = await listen(t, app)
await registerAccount(app, 'admin')
const owner = await registerAccount(app, 'owner')

t.test('search for a word said in the lecture gives the moment it is heard', async (t) => {
  const form = new FormData()
  form.append('title', 'Plant biology, week 3')
  form.append('visibility', 'public')
  form.append('file', new Blob([await readFile(clip)]), 'lecture.mp4')
  const res = await fetch(`${base}/api/videos`, { method: 'POST', body: form, headers: owner.auth })
  t.equal(res.status, 202, 'uploaded')
  const { id } = await res.json() as { id: string }
  t.equal((await uploadCaptions(base, id, vtt, { language: 'en' }, owner.auth)).status, 201, 'captions sent while it transcodes, as the upload page does')
  const keepAlive = setInterval(() => {}, 1000)
  let status = ''
  for (const end = Date.now() + 180_000; Date.now() < end && status !== 'ready' && status !== 'failed'; await new Promise((resolve) => setTimeout(resolve, 200))) {
    status = (await get(base, `/api/videos/${id}`, owner.auth)).json.status
  }
  clearInterval(keepAlive)
  t.equal(status, 'ready', 'transcoded')

  // The index takes a ready video in at its next poll (every 2 s), captions sent during the transcode with it.
  type Hit = { id: string, moments: Array<{ start: number, end: number, text: string }> }
  let results: Hit[] = []
  for (const end = Date.now() + 15_000; Date.now() < end && results.length === 0; await new Promise((resolve) => setTimeout(resolve, 250))) {
    results = (await get(base, '/api/search?q=calvin')).json.items as Hit[]
  }
  t.same(results.map((r) => r.id), [id], 'the word, said only in the lecture, finds it')
  const moment = results[0]!.moments[0]!
  const cue = cues[1]!
  t.ok(Math.abs(moment.start - cue.start) < 0.01 && Math.abs(moment.end - cue.end) < 0.01, `the moment ${moment.start}-${moment.end} s is the cue ${cue.start.toFixed(3)}-${cue.end.toFixed(3)} s`)
  t.equal(moment.text, 'Then the <mark>Calvin</mark> cycle makes sugar.', 'the word is marked')

  // Where speech is heard in the MP4 Lectern serves: the stretches that are not silence.
  const served = join(dir, 'served.mp4')
  await writeFile(served, Buffer.from(await (await fetch(`${base}/stream/${id}`)).arrayBuffer()))
  const { stderr } = await promisify(execFile)(toolPath('ffmpeg'), ['-hide_banner', '-nostdin', '-i', served, '-map', '0:a', '-af', 'silencedetect=noise=-40dB:d=0.5', '-f', 'null', '-'], { timeout: 60_000 })
  const starts = [...stderr.matchAll(/silence_start: ([\d.]+)/g)].map((m) => Number(m[1]))
  const ends = [...stderr.matchAll(/silence_end: ([\d.]+)/g)].map((m) => Number(m[1]))
  // Speech runs from the end of one silence to the start of the next (the last silence ends with the file).
  const speech = ends.flatMap((from, i) => starts[i + 1] === undefined ? [] : [[from, starts[i + 1]!] as const]).filter(([from, to]) => to - from > 0.3)
  t.equal(speech.length, 2, `two sentences heard (${JSON.stringify(speech)})`)
  const heard = speech.find(([from, to]) => from < moment.end && to > moment.start)
  t.ok(heard !== undefined && Math.abs(heard[0] - moment.start) < 0.5 && Math.abs(heard[1] - moment.end) < 0.5,
    `the sentence with "Calvin" is heard at ${heard?.[0]}-${heard?.[1]} s, within 0.5 s of the moment ${moment.start}-${moment.end} s`)

  // And the transcript of this video finds the same moment.
  const transcript = (await get(base, `/api/videos/${id}/transcript?q=calvin`)).json
  t.same(transcript.cues.map((c: { start: number }) => c.start), [moment.start], 'the transcript search finds the same moment')
})
