import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Video } from '../../src/db/documents.js'
import { videoKeys } from '../../src/db/documents.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { makeClip, mediaDir } from '../helpers/media.js'
import { requireToolsForFile, toolPath } from '../helpers/requirements.js'
import { getVideo, silentLog, uploadVideo } from '../transcoder/fixtures.js'
import { request } from './http.js'

// The other delivery tests serve a ladder made by hand (fixtures.ts); this one serves what the
// transcoder really publishes (its own master with measured BANDWIDTH and CODECS, fMP4-free TS
// segments, the faststart MP4, the poster), byte for byte, through /hls and /stream.

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

const execFileAsync = promisify(execFile)

const { app, config } = await buildTestApp(t)
const clip = await makeClip({ seconds: 6, width: 640, height: 360 }, t)
const { id } = await uploadVideo({ storage: app.storage, db: app.db }, clip)
await transcodeVideo({ db: app.db, storage: app.storage, config, log: silentLog, signal: new AbortController().signal, tmpRoot: await tempDir(t) }, id)
const video: Video = await getVideo(app.db, id)
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const prefix = videoKeys.versionPrefix(id, video.version!)

async function stored (name: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of await app.storage.get(prefix + name)) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

t.test('the transcoder\'s ladder is served byte for byte through /hls', async (t) => {
  t.equal(video.status, 'ready')
  t.ok(video.renditions.length >= 2, `a ladder of ${video.renditions.map((r) => r.name).join(', ')}`)

  const master = await request(base, `/hls/${id}/master.m3u8`)
  t.equal(master.status, 200)
  const sid = /\?sid=([A-Za-z0-9_-]{22})$/m.exec(master.body.toString())?.[1]
  t.ok(sid, 'a viewing session is issued')
  const variants = (text: string) => text.split('#EXT-X-STREAM-INF:').slice(1).map((v) => v.trim()).sort()
  const storedMaster = (await stored('master.m3u8')).toString()
  t.same(variants(master.body.toString()), variants(storedMaster.replace(/index\.m3u8$/gm, `index.m3u8?sid=${sid!}`)), 'the stored master\'s variants, each carrying the session')
  for (const r of video.renditions) {
    t.match(master.body.toString(), new RegExp(`BANDWIDTH=${r.bandwidth},AVERAGE-BANDWIDTH=${r.averageBandwidth},.*CODECS="${r.codecs.replace('.', '\\.')}".*\\n${r.name}/index\\.m3u8`), `${r.name}: the measured figures`)
  }

  let segments = 0
  for (const r of video.renditions) {
    const media = await request(base, `/hls/${id}/${r.name}/index.m3u8?sid=${sid!}`)
    t.equal(media.status, 200, `${r.name} playlist`)
    const names = media.body.toString().split('\n').filter((l) => l !== '' && !l.startsWith('#'))
    t.ok(names.length >= 2, `${r.name}: ${names.length} segments`)
    for (const uri of names) {
      const name = uri.split('?')[0]!
      const seg = await request(base, `/hls/${id}/${r.name}/${uri}`)
      t.equal(seg.headers['content-type'], 'video/mp2t')
      t.ok(seg.status === 200 && seg.body.equals(await stored(`${r.name}/${name}`)), `${r.name}/${name}: byte-exact`)
      segments++
    }
    const first = await stored(`${r.name}/segment-00000.ts`)
    const partial = await request(base, `/hls/${id}/${r.name}/segment-00000.ts`, { headers: { range: `bytes=188-${first.length - 1}` } })
    t.equal(partial.status, 206)
    t.ok(partial.body.equals(first.subarray(188)), `${r.name}: a range of a segment`)
  }
  t.ok(segments >= 4)

  const poster = await request(base, `/hls/${id}/poster.jpg`)
  t.ok(poster.status === 200 && poster.body.equals(await stored('poster.jpg')), 'the poster')
})

t.test('the transcoder\'s faststart MP4 is served by /stream, ranges exact', async (t) => {
  const mp4 = await stored('progressive.mp4')
  const whole = await request(base, `/stream/${id}`)
  t.equal(whole.status, 200)
  t.equal(whole.headers['content-type'], 'video/mp4')
  t.ok(whole.body.equals(mp4), 'the whole file')
  for (const [start, end] of [[0, 0], [0, 1023], [1000, mp4.length - 1], [mp4.length - 100, mp4.length - 1]] as Array<[number, number]>) {
    const r = await request(base, `/stream/${id}`, { headers: { range: `bytes=${start}-${end}` } })
    t.equal(r.status, 206)
    t.equal(r.headers['content-range'], `bytes ${start}-${end}/${mp4.length}`)
    t.ok(r.body.equals(mp4.subarray(start, end + 1)), `bytes ${start}-${end}`)
  }
  t.equal(mp4.subarray(4, 8).toString('latin1'), 'ftyp')
  t.ok(mp4.indexOf('moov') < mp4.indexOf('mdat'), 'faststart: the index before the media')
})

t.test('ffmpeg plays the transcoder\'s master over HTTP, every rung, for the whole duration', async (t) => {
  const dir = await mediaDir(t)
  for (let v = 0; v < video.renditions.length; v++) {
    const out = join(dir, `rung-${v}.mp4`)
    await execFileAsync(toolPath('ffmpeg'), ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', `${base}/hls/${id}/master.m3u8`, '-map', `0:p:${v}:v`, '-map', `0:p:${v}:a`, '-c', 'copy', out], { timeout: 60_000 })
    const { stdout } = await execFileAsync(toolPath('ffprobe'), ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type,width,height', '-of', 'json', out])
    const probe = JSON.parse(stdout) as { format: { duration: string }, streams: Array<{ codec_type: string, width?: number, height?: number }> }
    t.ok(Math.abs(Number(probe.format.duration) - 6) < 0.6, `program ${v}: duration ${probe.format.duration} ~ 6 s`)
    t.same(probe.streams.map((s) => s.codec_type).sort(), ['audio', 'video'])
  }
})
