import t from 'tap'
import { pruneLadder } from '../../transcoder/prune-ladder.js'
import { planLadder, type Ladder } from '../../transcoder/plan-ladder.js'
import { areaExponent, playerBitrate, predictBitrates, predictUncapped } from '../../transcoder/predict-bitrates.js'
import { complexityProbeArgs, complexityWindows, parseVstats, probeSize, type SourceComplexity } from '../../transcoder/measure-complexity.js'
import { isStill, planFromComplexity } from '../../transcoder/plan-encode.js'
import { INPUT_FORMAT_WHITELIST } from '../../transcoder/probe.js'

const ladder = planLadder({ width: 1280, height: 720, frameRate: 30, bitrate: 20_000_000, audioCodec: 'aac' })
const names = (l: Ladder) => l.map((r) => r.name)

t.test('the issue\'s slide lecture (464k, 376k, 266k, 220k): only the top and the lowest are worth encoding', async (t) => {
  const p = pruneLadder(ladder, [464_000, 376_000, 266_000, 220_000])
  t.same(names(p.ladder), ['720p', '234p'])
  t.same(p.kept, [0, 3])
  t.same(p.dropped.map((d) => `${d.rung.name}~${d.closeTo}`), ['540p~720p', '360p~234p'])
})

t.test('the issue\'s low-bitrate source (285k against 228k): two rungs too close, both kept as top and lowest', async (t) => {
  const two = ladder.slice(0, 1).concat(ladder.slice(3))
  t.same(names(pruneLadder(two, [285_000, 228_000]).ladder), ['720p', '234p'])
})

t.test('a well-spread ladder is kept whole; exactly MIN_RUNG_RATIO apart is far enough', async (t) => {
  t.same(names(pruneLadder(ladder, [3_000_000, 2_000_000, 800_000, 250_000]).ladder), ['720p', '540p', '360p', '234p'])
  t.same(pruneLadder(ladder, [2_744_000, 1_960_000, 1_400_000, 1_000_000]).dropped, [], '1.4x apart')
  t.same(pruneLadder(ladder, [2_744_000, 1_960_000, 1_390_000, 1_000_000]).dropped.map((d) => d.rung.name), ['360p'], 'just under 1.4x')
  // Apple's budgets, every rung at its cap, with audio and MPEG-TS muxing on top: all kept.
  t.same(pruneLadder(ladder, ladder.map((r) => playerBitrate(r.videoBitrate, r, true))).dropped, [])
})

t.test('spacing is measured against the kept rung, not the dropped one', async (t) => {
  // 360p is within 1.4x of 234p and goes; 540p is 1.5x above 234p (not above 360p) and stays.
  t.same(names(pruneLadder(ladder, [2_000_000, 600_000, 500_000, 400_000]).ladder), ['720p', '540p', '234p'])
})

t.test('one rung, or bitrates that do not match the ladder', async (t) => {
  t.same(names(pruneLadder(ladder.slice(0, 1), [1]).ladder), ['720p'])
  t.throws(() => pruneLadder(ladder, [1, 2]))
})

const complexity = (small: number, large: number): SourceComplexity => ({
  crf: 23,
  preset: 'veryfast',
  windows: [{ start: 0, seconds: 10 }],
  encodes: [
    { width: 320, height: 180, frameRate: 30, seconds: 10, bitrate: small, keyframeShare: 0.3 },
    { width: 960, height: 540, frameRate: 30, seconds: 10, bitrate: large, keyframeShare: 0.3 }
  ]
})

t.test('predictions: area exponent from the two probes, CRF and frame rate, capped by the rung', async (t) => {
  const c = complexity(100_000, 900_000)
  t.ok(Math.abs(areaExponent(c) - 1) < 1e-9, '9x the area, 9x the bits: exponent 1')
  t.equal(areaExponent(complexity(100_000, 100_000)), 0.3, 'clamped')
  const at = (w: number, h: number, fps = 30, crf = 23) => predictUncapped({ width: w, height: h, frameRate: fps }, crf, c)
  t.ok(Math.abs(at(320, 180) - 100_000) < 1, 'at a probe size: what the probe spent')
  t.ok(Math.abs(at(640, 360) - 400_000) < 1, 'between the probes: interpolated')
  t.ok(Math.abs(at(320, 180, 30, 20) - 100_000 * 1.1 ** 3) < 1, 'three CRF steps down: 1.1^3')
  t.ok(Math.abs(at(320, 180, 60) - 100_000 * 2 ** 0.6) < 1, 'double the frame rate: 2^0.6')
  t.ok(at(1280, 720) > 900_000 * (16 / 9), 'above the probes: at least as steep')
  const capped = predictBitrates(ladder, ladder.map(() => 23), complexity(1_000_000, 9_000_000))
  t.same(capped, ladder.map((r) => r.videoBitrate), 'never above the VBV cap')
})

t.test('still or not, from the larger probe\'s bits per pixel', async (t) => {
  t.equal(isStill(complexity(50_000, 200_000)), true, '0.013 bits per pixel')
  t.equal(isStill(complexity(300_000, 2_000_000)), false, '0.13 bits per pixel')
  const plan = planFromComplexity(ladder, complexity(50_000, 200_000), true)
  t.same(plan.rungCrf.length, plan.ladder.length)
  t.equal(plan.predicted.length, plan.ladder.length)
})

t.test('probe windows: spread over a long source, the whole of a short one', async (t) => {
  t.same(complexityWindows(8), [{ start: 0, seconds: 8 }])
  t.same(complexityWindows(30), [{ start: 2, seconds: 2 }, { start: 8, seconds: 2 }, { start: 14, seconds: 2 }, { start: 20, seconds: 2 }, { start: 26, seconds: 2 }])
  const hour = complexityWindows(3600)
  t.equal(hour.length, 5)
  t.ok(hour.every((w) => w.start >= 0 && w.start + w.seconds <= 3600))
  t.same(probeSize({ width: 1920, height: 1080 }, 180), { width: 320, height: 180 })
  t.same(probeSize({ width: 720, height: 1280 }, 540), { width: 540, height: 960 }, 'portrait: by the short side')
  t.same(probeSize({ width: 320, height: 240 }, 540), { width: 320, height: 240 }, 'never above the source')
})

t.test('probe arguments: every window read through the whitelists with input seeking, no audio', async (t) => {
  const args = complexityProbeArgs({
    input: '/in/original', windows: complexityWindows(3600), sizes: [{ width: 320, height: 180 }, { width: 960, height: 540 }],
    frameRate: 25, crf: 23, preset: 'veryfast', deinterlace: true, keyframeSeconds: 2, vstatsPath: '/tmp/v.txt'
  })
  const inputs = args.flatMap((a, i) => (a === '-i' ? [i] : []))
  t.equal(inputs.length, 5)
  t.same(inputs.map((i) => Number(args[i - 7])), complexityWindows(3600).map((w) => w.start), 'seeks to each window')
  for (const i of inputs) {
    t.equal(args[i + 1], 'file:/in/original')
    t.same(args.slice(i - 9, i), ['-noaccurate_seek', '-ss', args[i - 7]!, '-t', '2', '-format_whitelist', INPUT_FORMAT_WHITELIST, '-protocol_whitelist', 'file'])
  }
  const graph = args[args.indexOf('-filter_complex') + 1]!
  t.match(graph, /concat=n=5:v=1:a=0,bwdif=mode=send_frame:deint=interlaced,fps=25,/)
  t.same(args.filter((a) => a === '-an').length, 2)
  t.same(args.flatMap((a, i) => (a === '-g' ? [args[i + 1]] : [])), ['50', '50'])
})

t.test('vstats: bytes per output, keyframes apart', async (t) => {
  const text = [
    'out=  0 st=  0 frame=     0 q= 29.0 f_size=   4822 s_size=        0kB time= 0.010 br=  1157.3kbits/s avg_br=     0.0kbits/s type= I',
    'out=  1 st=  0 frame=     0 q= 29.0 f_size=   7130 s_size=        0kB time= 0.010 br=  1711.2kbits/s avg_br=     0.0kbits/s type= I',
    'out=  0 st=  0 frame=     1 q= 29.0 f_size=    405 s_size=        5kB time= 0.010 br=    97.2kbits/s avg_br=  3857.6kbits/s type= P',
    ''
  ].join('\n')
  t.same(parseVstats(text, 2), [{ frames: 2, bytes: 5227, keyframeBytes: 4822 }, { frames: 1, bytes: 7130, keyframeBytes: 7130 }])
})
