import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { segmentName, videoKeys } from '../../src/db/documents.js'
import { probe } from '../../transcoder/probe.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { mediaDir, runFfmpeg } from '../helpers/media.js'
import { requireToolsForFile, toolPath } from '../helpers/requirements.js'
import { ffprobeJson, getVideo, transcoderFixture, uploadVideo } from './fixtures.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

/** ffmpeg's idet over a whole file: frames it judged interlaced (TFF + BFF) and progressive, multi-frame detection. */
function idet (path: string): { interlaced: number, progressive: number } {
  const r = spawnSync(toolPath('ffmpeg'), ['-hide_banner', '-nostdin', '-i', path, '-map', '0:v:0', '-vf', 'idet', '-f', 'null', '-'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(r.stderr)
  const m = /Multi frame detection: TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)/.exec(r.stderr)
  if (m === null) throw new Error(`no idet summary in: ${r.stderr.slice(-500)}`)
  return { interlaced: Number(m[1]) + Number(m[2]), progressive: Number(m[3]) }
}

t.test('a 480i MPEG-2 recording comes out progressive', async (t) => {
  const dir = await mediaDir(t)
  const source = join(dir, 'tv.ts')
  // 59.94 pictures a second woven into 29.97 interlaced frames, top field first, as a TV recording.
  // At 480 lines the top rung is the source's size, so combing left in would survive to the output.
  runFfmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=720x480:rate=60000/1001',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-vf', 'interlace=scan=tff', '-t', '3',
    '-c:v', 'mpeg2video', '-flags', '+ilme+ildct', '-field_order', 'tt', '-b:v', '6M', '-maxrate', '8M', '-bufsize', '2M',
    '-c:a', 'mp2', source
  ])
  const before = idet(source)
  t.ok(before.interlaced > 10 * Math.max(1, before.progressive), `idet on the source: ${before.interlaced} interlaced, ${before.progressive} progressive frames`)
  t.equal((await probe(toolPath('ffprobe'), source)).interlaced, true, 'the probe says interlaced')
  // The measure can fail: the same source encoded without deinterlacing stays combed.
  const combed = join(dir, 'combed.ts')
  runFfmpeg(['-i', source, '-c:v', 'libx264', '-preset', 'ultrafast', '-an', combed])
  const control = idet(combed)
  t.ok(control.interlaced > 10 * Math.max(1, control.progressive), `control, not deinterlaced: ${control.interlaced} interlaced, ${control.progressive} progressive frames`)

  const fx = await transcoderFixture(t)
  const { id } = await uploadVideo(fx, source)
  const result = await transcodeVideo({ db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, signal: new AbortController().signal, tmpRoot: fx.tmpRoot }, id)
  const video = await getVideo(fx.db, id)
  t.equal(video.status, 'ready')
  const top = video.renditions[0]!
  t.equal(`${top.width}x${top.height}`, '720x480', 'the top rung is not scaled')
  // The top rung's first segment, as stored: the whole 3 s clip.
  const out = join(dir, 'top.ts')
  await pipeline(await fx.storage.get(videoKeys.segment(id, result.version, top.name, segmentName(0))), createWriteStream(out))
  const stream = ffprobeJson(out, ['-select_streams', 'v:0', '-show_entries', 'stream=field_order']).streams[0] as { field_order?: string }
  t.equal(stream.field_order, 'progressive', 'ffprobe: progressive')
  const after = idet(out)
  t.ok(after.interlaced <= Math.max(2, 0.05 * (after.interlaced + after.progressive)), `idet on the output: ${after.interlaced} interlaced, ${after.progressive} progressive frames`)
  t.ok(after.progressive >= 50, 'and it saw the frames')
})

t.test('a progressive source is not flagged interlaced', async (t) => {
  const dir = await mediaDir(t)
  const path = join(dir, 'p.ts')
  runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-t', '1', '-c:v', 'mpeg2video', path])
  t.equal((await probe(toolPath('ffprobe'), path)).interlaced, false)
})
