import { createWriteStream } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import type { Video } from '../../src/db/documents.js'
import { segmentName, videoKeys } from '../../src/db/documents.js'
import { makeClip, mediaDir } from '../helpers/media.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { transcoderFixture, uploadVideo, getVideo, filesUnder, ffprobeJson } from './fixtures.js'
import { requireToolsForFile } from '../helpers/requirements.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

const SECONDS = 9

/** NAL unit types of the first access unit of a TS segment, as the encoder wrote them. */
function firstAccessUnitNalTypes (segment: string): number[] {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', segment, '-map', '0:v:0', '-c', 'copy', '-frames:v', '1', '-f', 'h264', 'pipe:1'], { maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(r.stderr.toString())
  const bytes = r.stdout
  const types: number[] = []
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1) types.push(bytes[i + 3]! & 0x1f)
  }
  return types
}

function parseMaster (text: string) {
  const lines = text.trim().split('\n')
  const variants: Array<{ attrs: Record<string, string>, uri: string }> = []
  lines.forEach((line, i) => {
    if (!line.startsWith('#EXT-X-STREAM-INF:')) return
    const attrs: Record<string, string> = {}
    for (const m of line.slice(18).matchAll(/([A-Z-]+)=("[^"]*"|[^,]*)/g)) attrs[m[1]!] = m[2]!.replace(/"/g, '')
    variants.push({ attrs, uri: lines[i + 1]! })
  })
  return { lines, variants }
}

t.test('a real transcode publishes a switchable ladder with honest playlists', async (t) => {
  const fx = await transcoderFixture(t)
  const source = await makeClip({ seconds: SECONDS, width: 960, height: 540, fps: 30 }, t)
  const { id } = await uploadVideo(fx, source)

  // Watch progress as a client polling the API would.
  const seen: Array<{ progress: number, eta: number | null, status: string }> = []
  const poll = setInterval(() => {
    fx.db.collection<Video>('videos').findOne({ _id: id })
      .then((v) => { if (v !== null) seen.push({ progress: v.progress, eta: v.etaSeconds, status: v.status }) })
      .catch(() => {})
  }, 100)
  const result = await transcodeVideo({
    db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, signal: new AbortController().signal,
    tmpRoot: fx.tmpRoot, progressIntervalMs: 200
  }, id)
  clearInterval(poll)

  t.same(await filesUnder(fx.tmpRoot), [], 'temp files removed')
  const video = await getVideo(fx.db, id)
  t.equal(video.status, 'ready')
  t.equal(video.progress, 1)
  t.equal(video.version, result.version)
  t.same(video.renditions.map((r) => r.name), ['540p', '360p', '234p'])
  t.ok(Math.abs(video.duration! - SECONDS) < 0.1, `duration ${video.duration}`)
  t.equal(video.source?.width, 960)
  t.equal(video.posterKey, videoKeys.poster(id, result.version))
  t.equal(video.progressiveKey, videoKeys.progressive(id, result.version))

  const during = seen.filter((s) => s.status === 'processing' && s.progress > 0 && s.progress < 1)
  t.ok(during.length >= 1, `progress reported while encoding (${during.map((s) => s.progress).join(', ')})`)
  t.ok(during.every((s, i) => i === 0 || s.progress >= during[i - 1]!.progress), 'progress never goes back')
  t.ok(during.some((s) => s.eta !== null && s.eta >= 0), 'an estimate of the time left')

  // Everything as stored, fetched back from storage.
  const local = await mediaDir(t)
  const stored = await fx.storage.list(videoKeys.versionPrefix(id, result.version))
  for (const o of stored) {
    const path = join(local, o.key.slice(videoKeys.versionPrefix(id, result.version).length))
    await mkdir(dirname(path), { recursive: true })
    await pipeline(await fx.storage.get(o.key), createWriteStream(path))
  }
  const names = stored.map((o) => o.key.slice(videoKeys.versionPrefix(id, result.version).length)).sort()
  t.ok(names.includes('master.m3u8') && names.includes('progressive.mp4') && names.includes('poster.jpg'))
  for (const r of video.renditions) {
    t.ok(names.includes(`${r.name}/index.m3u8`), `${r.name} playlist stored`)
    t.equal(names.filter((n) => n.startsWith(`${r.name}/segment-`)).length, r.segmentCount, `${r.name} segments stored`)
  }

  const keyframesByRung: Record<string, string[]> = {}
  for (const r of video.renditions) {
    const playlist = await readFile(join(local, r.name, 'index.m3u8'), 'utf8')
    t.match(playlist, /#EXT-X-PLAYLIST-TYPE:VOD/)
    t.match(playlist, /#EXT-X-ENDLIST\s*$/)
    t.match(playlist, /#EXT-X-TARGETDURATION:4\n/)
    const extinf = [...playlist.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]))
    t.same(extinf.map((d) => Math.round(d * 100) / 100), [4, 4, 1], `${r.name} segments of 4 s`)

    // Measured here, independently: each segment's real duration from its packets, its size from storage.
    const measured: Array<{ bits: number, seconds: number }> = []
    const keyframes: string[] = []
    for (let i = 0; i < r.segmentCount; i++) {
      const seg = join(local, r.name, segmentName(i))
      const nal = firstAccessUnitNalTypes(seg)
      t.ok(nal.includes(5) && !nal.includes(1), `${r.name} segment ${i} starts with an IDR frame (NAL types ${nal.join(',')})`)
      t.ok(nal.includes(7) && nal.includes(8), `${r.name} segment ${i} carries SPS and PPS`)
      const packets = ffprobeJson(seg, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,duration_time,flags']).packets as Array<{ pts_time: string, duration_time: string, flags: string }>
      const pts = packets.map((p) => Number(p.pts_time))
      const seconds = Math.max(...pts) - Math.min(...pts) + Number(packets[0]!.duration_time)
      t.ok(Math.abs(seconds - extinf[i]!) < 0.05, `${r.name} segment ${i}: EXTINF ${extinf[i]} matches its ${seconds.toFixed(3)} s of video`)
      keyframes.push(...packets.filter((p) => p.flags.startsWith('K')).map((p) => Number(p.pts_time).toFixed(3)))
      const size = (await fx.storage.head(videoKeys.segment(id, result.version, r.name, segmentName(i)))).size
      measured.push({ bits: size * 8, seconds })
    }
    keyframesByRung[r.name] = keyframes

    // RFC 8216 4.1 peak: contiguous runs lasting 0.5..1.5x the target duration (4 s).
    let peak = 0
    for (let i = 0; i < measured.length; i++) {
      let bits = 0
      let seconds = 0
      for (let j = i; j < measured.length; j++) {
        bits += measured[j]!.bits
        seconds += measured[j]!.seconds
        if (seconds > 6) break
        if (seconds >= 2) peak = Math.max(peak, bits / seconds)
      }
    }
    const average = measured.reduce((s, m) => s + m.bits, 0) / measured.reduce((s, m) => s + m.seconds, 0)
    t.ok(r.bandwidth >= peak * 0.995, `${r.name} BANDWIDTH ${r.bandwidth} >= measured peak ${Math.round(peak)}`)
    t.ok(r.bandwidth <= peak * 1.1, `${r.name} BANDWIDTH within 10% of the peak`)
    t.ok(Math.abs(r.averageBandwidth - average) / average < 0.05, `${r.name} AVERAGE-BANDWIDTH ${r.averageBandwidth} ~ ${Math.round(average)}`)
    t.ok(peak <= 2 * average, `${r.name} peak ${Math.round(peak)} within 2x its average ${Math.round(average)}`)

    const streams = ffprobeJson(join(local, r.name, 'segment-00000.ts'), ['-show_entries', 'stream=codec_type,profile,level,width,height']).streams as Array<{ codec_type: string, profile: string, level?: number, width?: number, height?: number }>
    const v = streams.find((s) => s.codec_type === 'video')!
    t.equal(v.profile, 'High')
    t.equal(`${v.width}x${v.height}`, `${r.width}x${r.height}`)
    t.equal(r.codecs, `avc1.6400${v.level!.toString(16).padStart(2, '0')},mp4a.40.2`, `${r.name} CODECS from the real profile and level`)
  }
  const reference = keyframesByRung['540p']!
  const first = Number(reference[0])
  t.same(reference.map((x) => (Number(x) - first).toFixed(3)), ['0.000', '2.000', '4.000', '6.000', '8.000'], 'keyframes every 2 s')
  for (const [name, kf] of Object.entries(keyframesByRung)) t.same(kf, reference, `${name} keyframes at the same timestamps as 540p`)

  const master = parseMaster(await readFile(join(local, 'master.m3u8'), 'utf8'))
  t.equal(master.lines[0], '#EXTM3U')
  t.ok(master.lines.includes('#EXT-X-INDEPENDENT-SEGMENTS'))
  t.ok(master.lines.includes('#EXT-X-VERSION:1'), 'no feature in the master needs more than version 1')
  t.same(master.variants.map((v) => v.uri), ['540p/index.m3u8', '360p/index.m3u8', '234p/index.m3u8'])
  for (const v of master.variants) {
    const r = video.renditions.find((x) => `${x.name}/index.m3u8` === v.uri)!
    t.equal(Number(v.attrs.BANDWIDTH), r.bandwidth, 'master BANDWIDTH = renditions metadata')
    t.equal(Number(v.attrs['AVERAGE-BANDWIDTH']), r.averageBandwidth)
    t.equal(v.attrs.CODECS, r.codecs)
    t.equal(v.attrs.RESOLUTION, `${r.width}x${r.height}`)
    t.equal(v.attrs['FRAME-RATE'], '30.000')
  }

  // The progressive file: 540p (the top rung below 720p), faststart, the whole length.
  const mp4 = await readFile(join(local, 'progressive.mp4'))
  t.ok(mp4.indexOf('moov') > 0 && mp4.indexOf('moov') < mp4.indexOf('mdat'), 'moov before mdat (faststart)')
  const prog = ffprobeJson(join(local, 'progressive.mp4'), ['-show_entries', 'stream=codec_type,width,height,nb_frames:format=duration'])
  const pv = prog.streams.find((s: any) => s.codec_type === 'video')
  t.equal(`${pv.width}x${pv.height}`, '960x540')
  t.equal(Number(pv.nb_frames), SECONDS * 30, 'every frame')
  t.ok(prog.streams.some((s: any) => s.codec_type === 'audio'), 'with its sound')
  const jpeg = await readFile(join(local, 'poster.jpg'))
  t.same([...jpeg.subarray(0, 2)], [0xff, 0xd8], 'poster is a JPEG')
})

t.test('a silent portrait clip: video-only rungs in portrait shape', async (t) => {
  const fx = await transcoderFixture(t)
  const source = await makeClip({ seconds: 2, width: 360, height: 640, audio: false }, t)
  const { id } = await uploadVideo(fx, source)
  await transcodeVideo({ db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, signal: new AbortController().signal, tmpRoot: fx.tmpRoot }, id)
  const video = await getVideo(fx.db, id)
  t.equal(video.status, 'ready')
  t.same(video.renditions.map((r) => `${r.name} ${r.width}x${r.height}`), ['360p 360x640', '234p 234x416'])
  for (const r of video.renditions) t.match(r.codecs, /^avc1\.64[0-9a-f]{4}$/, 'no audio codec for a silent source')
  t.equal(video.source?.audioCodec, null)
  const master = await fx.storage.get(videoKeys.master(id, video.version!))
  let text = ''
  for await (const chunk of master) text += chunk
  t.match(text, /RESOLUTION=360x640/)
  t.same(await filesUnder(fx.tmpRoot), [])
})
