import t, { type Test } from 'tap'
import { planLadder, progressiveRung, h264Level, cappedFrameRate, type Ladder } from '../../transcoder/plan-ladder.js'

const src = (width: number, height: number, frameRate = 30, bitrate = 50_000_000, audioCodec: string | null = 'aac') =>
  ({ width, height, frameRate, bitrate, audioCodec })

const names = (l: Ladder) => l.map((r) => r.name)
const sizes = (l: Ladder) => l.map((r) => `${r.width}x${r.height}`)

function invariants (t: Test, ladder: Ladder, source: ReturnType<typeof src>) {
  for (const r of ladder) {
    t.equal(r.width % 2, 0, `${r.name} width even`)
    t.equal(r.height % 2, 0, `${r.name} height even`)
    t.ok(r.width <= source.width && r.height <= source.height, `${r.name} not above the source`)
    const aspect = source.width / source.height
    t.ok(Math.abs(r.width / r.height - aspect) / aspect < 0.02, `${r.name} keeps the aspect ratio`)
    if (Math.min(r.width, r.height) < 720) t.ok(r.frameRate <= 30, `${r.name} at most 30 fps below 720p`)
    t.ok(r.frameRate <= source.frameRate, `${r.name} never above the source frame rate`)
    t.ok(r.videoBitrate <= Math.max(64_000, source.bitrate), `${r.name} bitrate capped by the source`)
  }
  for (let i = 1; i < ladder.length; i++) {
    t.ok(ladder[i]!.height * ladder[i]!.width < ladder[i - 1]!.height * ladder[i - 1]!.width, 'rungs get smaller')
    t.ok(ladder[i]!.videoBitrate < ladder[i - 1]!.videoBitrate, 'and cheaper')
  }
}

t.test('4K source: tops out at 1080p, all standard rungs', async (t) => {
  const s = src(3840, 2160, 30, 40_000_000)
  const l = planLadder(s)
  t.same(names(l), ['1080p', '720p', '540p', '360p', '234p'])
  t.same(sizes(l), ['1920x1080', '1280x720', '960x540', '640x360', '416x234'])
  t.same(l.map((r) => r.videoBitrate), [6_000_000, 3_000_000, 2_000_000, 800_000, 250_000])
  t.same(l.map((r) => r.level), ['4.0', '3.1', '3.1', '3.0', '3.0'])
  invariants(t, l, s)
  t.equal(progressiveRung(l).name, '720p')
})

t.test('1080p30 source: a rung at the source size', async (t) => {
  const s = src(1920, 1080)
  const l = planLadder(s)
  t.same(names(l), ['1080p', '720p', '540p', '360p', '234p'])
  t.same(l[0]!.frameRate, 30)
  invariants(t, l, s)
})

t.test('720p portrait: named and budgeted by the short side', async (t) => {
  const s = src(720, 1280, 30)
  const l = planLadder(s)
  t.same(names(l), ['720p', '540p', '360p', '234p'])
  t.same(sizes(l), ['720x1280', '540x960', '360x640', '234x416'])
  t.equal(l[0]!.videoBitrate, 3_000_000, 'same pixels as landscape 720p, same budget')
  invariants(t, l, s)
  t.equal(progressiveRung(l).name, '720p')
})

t.test('480x360 (4:3): top rung is the source size, budgets scaled to area', async (t) => {
  const s = src(480, 360, 30, 1_500_000)
  const l = planLadder(s)
  t.same(sizes(l), ['480x360', '312x234'])
  t.ok(l[0]!.videoBitrate < 800_000, '4:3 at 360 lines costs less than 16:9 at 360 lines')
  t.equal(l[0]!.videoBitrate, 600_000)
  invariants(t, l, s)
  t.equal(progressiveRung(l).name, '360p')
})

t.test('odd sizes round to even and get a rung of their own', async (t) => {
  const s = src(1279, 719)
  const l = planLadder(s)
  t.same(names(l), ['718p', '540p', '360p', '234p'])
  t.same(l[0]!.width, 1278, '718 * 1279/719 = 1277.2, nearest even')
  invariants(t, l, s)
  const tiny = planLadder(src(177, 99))
  t.same(sizes(tiny), ['176x98'], 'smaller than the smallest rung: one rung at the source size')
})

t.test('a source just above a standard rung snaps to it rather than adding a near-duplicate', async (t) => {
  t.same(names(planLadder(src(1000, 562))), ['540p', '360p', '234p'])
  t.same(names(planLadder(src(1138, 640))), ['640p', '540p', '360p', '234p'])
})

t.test('60 fps: kept at 720p and up, halved below; budgets rise about 1.5x', async (t) => {
  const s = src(1920, 1080, 60)
  const l = planLadder(s)
  t.same(l.map((r) => r.frameRate), [60, 60, 30, 30, 30])
  t.ok(l[0]!.videoBitrate > 8_500_000 && l[0]!.videoBitrate < 9_500_000, `1080p60 ${l[0]!.videoBitrate}`)
  t.equal(l[0]!.level, '4.2')
  t.equal(l[1]!.level, '3.2')
  invariants(t, l, s)
  t.same(planLadder(src(1280, 720, 59.94)).map((r) => r.frameRate), [59.94, 29.97, 29.97, 29.97])
  t.same(planLadder(src(1280, 720, 50)).map((r) => r.frameRate), [50, 25, 25, 25])
  t.same(planLadder(src(1280, 720, 120)).map((r) => r.frameRate), [60, 30, 30, 30])
})

t.test('a low-bitrate source: no rung spends more than the source has', async (t) => {
  const s = src(1920, 1080, 30, 1_000_000)
  const l = planLadder(s)
  t.equal(l[0]!.videoBitrate, 872_000, 'the source minus its audio')
  invariants(t, l, s)
  const silent = planLadder(src(1920, 1080, 30, 1_000_000, null))
  t.equal(silent[0]!.videoBitrate, 1_000_000, 'no audio to leave room for')
})

t.test('buffers are two seconds at the cap', async (t) => {
  for (const r of planLadder(src(1920, 1080))) t.equal(r.bufferSize, 2 * r.videoBitrate)
})

t.test('levels and frame-rate caps', async (t) => {
  t.equal(h264Level(1920, 1080, 30, 6_000_000), '4.0')
  t.equal(h264Level(1920, 1080, 30, 30_000_000), '4.1', 'bitrate alone can raise the level')
  t.equal(h264Level(1280, 720, 60, 4_500_000), '3.2')
  t.equal(h264Level(416, 234, 30, 250_000), '3.0')
  t.equal(cappedFrameRate(24, 30), 24)
  t.equal(cappedFrameRate(48, 30), 24)
})

t.test('nonsense sizes are refused', async (t) => {
  t.throws(() => planLadder(src(0, 1080)))
})
