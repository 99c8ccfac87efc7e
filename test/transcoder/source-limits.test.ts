import t from 'tap'
import { join } from 'node:path'
import { checkSourceLimits, formatDuration } from '../../transcoder/source-limits.js'
import { TranscodeError } from '../../transcoder/transcode-error.js'
import { probe } from '../../transcoder/probe.js'
import { loadConfig } from '../../src/config.js'
import { mediaDir, runFfmpeg } from '../helpers/media.js'
import { requireTools } from '../helpers/requirements.js'

const limits = { maxDurationSeconds: 6 * 3600, maxFrames: 6 * 3600 * 60, maxPixels: 4096 * 2304 }
const lecture = { duration: 3600, frameRate: 30, width: 1920, height: 1080 }

function refusal (source: typeof lecture, l = limits): TranscodeError {
  try {
    checkSourceLimits(source, l)
  } catch (err) {
    return err as TranscodeError
  }
  throw new Error('expected a refusal')
}

t.test('an ordinary lecture passes', async (t) => {
  t.doesNotThrow(() => checkSourceLimits(lecture, limits))
  t.doesNotThrow(() => checkSourceLimits({ ...lecture, duration: 6 * 3600 }, limits), 'exactly the limit is allowed')
})

t.test('too long: a permanent refusal that says how long, the limit, and what to do', async (t) => {
  const err = refusal({ ...lecture, duration: 36_001 })
  t.ok(err instanceof TranscodeError)
  t.equal(err.permanent, true, 'the same file fails the same way: not retried')
  t.equal(err.userFacing, true)
  t.match(err.message, /^the video is 10 h 0 min long; this server accepts up to 6 h \(MAX_DURATION_S\)/)
  t.match(err.message, /cut it into shorter parts/)
})

t.test('too many frames: output rate times duration, the rate capped as the ladder caps it', async (t) => {
  const tight = { ...limits, maxFrames: 100_000 }
  // 1 h at 50 fps: 180,000 frames
  t.match(refusal({ ...lecture, frameRate: 50 }, tight).message, /180,000 frames \(1 h at 50 fps\).*up to 100,000 \(MAX_FRAMES\)/)
  // 240 fps is encoded at 60: 1 h is 216,000 frames, not 864,000
  t.match(refusal({ ...lecture, frameRate: 240 }, tight).message, /216,000 frames \(1 h at 60 fps\)/)
  // no usable rate: encoded at 30 fps, so 1 h is 108,000 frames
  t.match(refusal({ ...lecture, frameRate: 0 }, tight).message, /108,000 frames/)
  t.doesNotThrow(() => checkSourceLimits({ ...lecture, duration: 3000, frameRate: 30 }, tight), '90,000 frames pass')
})

t.test('too large a picture', async (t) => {
  const err = refusal({ ...lecture, width: 7680, height: 4320 })
  t.match(err.message, /^the picture is 7680x4320 \(33\.2 megapixels\); this server accepts up to 9\.4 megapixels \(MAX_PIXELS\)/)
  t.doesNotThrow(() => checkSourceLimits({ ...lecture, width: 3840, height: 2160 }, limits), '4K UHD passes by default')
})

t.test('durations read as people say them', async (t) => {
  t.equal(formatDuration(6 * 3600), '6 h')
  t.equal(formatDuration(36_001), '10 h 0 min')
  t.equal(formatDuration(2 * 3600 + 30 * 60), '2 h 30 min')
  t.equal(formatDuration(45 * 60 + 10), '45 min 10 s')
  t.equal(formatDuration(12.5), '12.5 s')
})

t.test('configuration: defaults, and the environment names', async (t) => {
  t.same(loadConfig({}).sourceLimits, { maxDurationSeconds: 21_600, maxFrames: 1_296_000, maxPixels: 9_437_184 })
  t.same(loadConfig({ MAX_DURATION_S: '60', MAX_FRAMES: '1800', MAX_PIXELS: '921600' }).sourceLimits, { maxDurationSeconds: 60, maxFrames: 1800, maxPixels: 921_600 })
  t.throws(() => loadConfig({ MAX_DURATION_S: '6h' }), /^MAX_DURATION_S: must be a whole number/)
})

t.test('the crafted file: two frames ten hours apart, about 40 KB, probes as ten hours and is refused', async (t) => {
  if (!requireTools(t, 'ffmpeg', 'ffprobe')) return
  const dir = await mediaDir(t)
  const path = join(dir, 'two-frames.mp4')
  runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=1', '-frames:v', '2', '-vf', 'setpts=N*36000/TB', '-fps_mode', 'passthrough', '-c:v', 'libx264', '-preset', 'ultrafast', path])
  const source = await probe(process.env.FFPROBE_PATH ?? 'ffprobe', path)
  t.ok(source.size < 200_000, `a small file (${source.size} bytes)`)
  t.match(refusal(source).message, /^the video is 10 h 0 min long/)
})
