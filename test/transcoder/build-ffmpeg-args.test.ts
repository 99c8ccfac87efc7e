import t from 'tap'
import { buildFfmpegArgs, defaultEncoderThreads, keyframeSeconds } from '../../transcoder/build-ffmpeg-args.js'
import { planLadder, progressiveRung } from '../../transcoder/plan-ladder.js'
import { INPUT_FORMAT_WHITELIST } from '../../transcoder/probe.js'

const ladder = planLadder({ width: 1920, height: 1080, frameRate: 60, bitrate: 20_000_000, audioCodec: 'aac' })
const args = buildFfmpegArgs({
  input: '/tmp/in/original', outputDir: '/tmp/out', ladder, progressiveIndex: ladder.indexOf(progressiveRung(ladder)), hasAudio: true, segmentSeconds: 4
})
const valuesOf = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []))

t.test('one input, read through the whitelists', async (t) => {
  t.same(valuesOf('-i'), ['file:/tmp/in/original'])
  const i = args.indexOf('-i')
  t.ok(args.indexOf('-format_whitelist') < i && args.indexOf('-protocol_whitelist') < i, 'whitelists are input options')
  t.same(valuesOf('-format_whitelist'), [INPUT_FORMAT_WHITELIST])
  t.same(valuesOf('-protocol_whitelist'), ['file'])
  t.notOk(INPUT_FORMAT_WHITELIST.split(',').some((f) => ['hls', 'concat', 'image2', 'tee', 'lavfi'].includes(f)))
})

t.test('a cascade: each rung is scaled from the rung above, not from the source', async (t) => {
  const graph = valuesOf('-filter_complex')[0]!.split(';')
  t.equal(graph.length, ladder.length)
  t.match(graph[0], /^\[0:v:0\]fps=60,scale=1920:1080:flags=bicubic,format=yuv420p,setsar=1,split=2\[v0\]\[c0\]$/)
  t.match(graph[1], /^\[c0\]scale=1280:720[^;]*split=2\[v1\]\[c1\]$/)
  t.match(graph[2], /^\[c1\]fps=30,scale=960:540/, 'the frame rate drops (before scaling) where rungs go below 720p')
  t.match(graph[4], /^\[c3\]scale=416:234[^;]*\[v4\]$/)
  t.same(valuesOf('-map').filter((m) => m.startsWith('[')), ['[v0]', '[v1]', '[v2]', '[v3]', '[v4]'])
})

t.test('every rung: x264 High at its level, capped CRF, keyframes at the same instants', async (t) => {
  t.same(valuesOf('-c:v'), ladder.map(() => 'libx264'))
  t.same(valuesOf('-profile:v'), ladder.map(() => 'high'))
  t.same(valuesOf('-level:v'), ladder.map((r) => r.level))
  t.same(valuesOf('-maxrate'), ladder.map((r) => String(r.videoBitrate)))
  t.same(valuesOf('-bufsize'), ladder.map((r) => String(r.bufferSize)))
  t.same(valuesOf('-force_key_frames'), ladder.map(() => 'expr:gte(t,n_forced*2)'))
  t.same(valuesOf('-sc_threshold'), ladder.map(() => '0'))
  t.same(valuesOf('-g'), ['120', '120', '60', '60', '60'], '2 s of frames at each rung\'s rate')
  t.same(valuesOf('-c:a'), ladder.map(() => 'aac'))
  t.same(valuesOf('-ac'), ladder.map(() => '2'))
})

t.test('HLS per rung; the 720p rung also goes to a faststart MP4 through tee, not a second encode', async (t) => {
  t.same(valuesOf('-f'), ['hls', 'tee', 'hls', 'hls', 'hls'])
  const tee = args[args.indexOf('tee') + 1]!
  t.equal(tee, '[f=hls:max_delay=700000:hls_time=4:hls_playlist_type=event:hls_flags=independent_segments+temp_file:hls_segment_type=mpegts:hls_ts_options=mpegts_copyts\\=1:hls_segment_filename=/tmp/out/720p/segment-%05d.ts]/tmp/out/720p/index.m3u8|[f=mp4:movflags=+faststart]/tmp/out/progressive.mp4')
  // The other rungs pack audio the same way and keep the encoder's timestamps too.
  t.same(valuesOf('-muxdelay'), ['0.7', '0.7', '0.7', '0.7'])
  t.same(valuesOf('-hls_ts_options'), ['mpegts_copyts=1', 'mpegts_copyts=1', 'mpegts_copyts=1', 'mpegts_copyts=1'])
  t.same(valuesOf('-hls_segment_filename'), ['/tmp/out/1080p/segment-%05d.ts', '/tmp/out/540p/segment-%05d.ts', '/tmp/out/360p/segment-%05d.ts', '/tmp/out/234p/segment-%05d.ts'])
  t.same(valuesOf('-hls_playlist_type'), ['event', 'event', 'event', 'event'])
  t.same(valuesOf('-progress'), ['pipe:1'])
})

t.test('paths the tee syntax would misread are refused', async (t) => {
  t.throws(() => buildFfmpegArgs({ input: '/in', outputDir: '/tmp/a:b', ladder, progressiveIndex: 1, hasAudio: false, segmentSeconds: 4 }), /tee/)
})

t.test('no audio: no audio options', async (t) => {
  const silent = buildFfmpegArgs({ input: '/in', outputDir: '/tmp/o', ladder, progressiveIndex: 1, hasAudio: false, segmentSeconds: 4 })
  t.notOk(silent.includes('0:a:0'))
  t.notOk(silent.includes('-c:a'))
})

t.test('keyframe spacing and threads', async (t) => {
  t.equal(keyframeSeconds(4), 2)
  t.equal(keyframeSeconds(6), 2)
  t.equal(keyframeSeconds(5), 5, 'an odd segment length: one keyframe per segment')
  t.same(ladder.map((r) => defaultEncoderThreads(r, 2)), [4, 4, 2, 1, 1])
  t.same(ladder.map((r) => defaultEncoderThreads(r, 8)), [16, 16, 8, 4, 4])
})

t.test('an interlaced source is deinterlaced first, once, before the cascade', async (t) => {
  const a = buildFfmpegArgs({ input: '/in', outputDir: '/tmp/o', ladder, progressiveIndex: 1, hasAudio: true, segmentSeconds: 4, deinterlace: true })
  const graph = a[a.indexOf('-filter_complex') + 1]!
  t.match(graph, /^\[0:v:0\]bwdif=mode=send_frame:deint=interlaced,fps=60,scale=1920:1080/)
  t.equal(graph.split('bwdif').length - 1, 1)
  t.notMatch(valuesOf('-filter_complex')[0]!, /bwdif/, 'progressive sources are not touched')
})

t.test('the chosen audio stream is mapped into every rung', async (t) => {
  const a = buildFfmpegArgs({ input: '/in', outputDir: '/tmp/o', ladder, progressiveIndex: 1, hasAudio: true, segmentSeconds: 4, audioStream: 1 })
  t.same(a.flatMap((x, i) => (x === '-map' && a[i + 1]!.startsWith('0:a') ? [a[i + 1]] : [])), ladder.map(() => '0:a:1'))
  t.same(valuesOf('-map').filter((m) => m.startsWith('0:a')), ladder.map(() => '0:a:0'), 'the first by default')
})

t.test('CRF per rung as planned; an explicit CRF overrides every rung', async (t) => {
  const rungCrf = [20, 20, 23, 23, 23]
  const planned = buildFfmpegArgs({ input: '/in', outputDir: '/tmp/o', ladder, progressiveIndex: 1, hasAudio: true, segmentSeconds: 4, rungCrf })
  t.same(planned.flatMap((x, i) => (x === '-crf' ? [planned[i + 1]] : [])), rungCrf.map(String))
  const forced = buildFfmpegArgs({ input: '/in', outputDir: '/tmp/o', ladder, progressiveIndex: 1, hasAudio: true, segmentSeconds: 4, rungCrf, crf: 26 })
  t.same(forced.flatMap((x, i) => (x === '-crf' ? [forced[i + 1]] : [])), ladder.map(() => '26'))
  t.same(valuesOf('-crf'), ladder.map(() => '23'), 'the default')
})
