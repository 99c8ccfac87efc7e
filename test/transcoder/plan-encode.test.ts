import { mkdir, mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { buildFfmpegArgs, rungPaths } from '../../transcoder/build-ffmpeg-args.js'
import { planEncode, rungCrfs } from '../../transcoder/plan-encode.js'
import { planLadder, type Ladder } from '../../transcoder/plan-ladder.js'
import { playerBitrate, predictBitrates } from '../../transcoder/predict-bitrates.js'
import { MIN_RUNG_RATIO } from '../../transcoder/prune-ladder.js'
import { probe } from '../../transcoder/probe.js'
import { runProcess } from '../../transcoder/run-process.js'
import { mediaDir } from '../helpers/media.js'
import { requireToolsForFile, toolPath } from '../helpers/requirements.js'
import { ffprobeJson, silentLog } from './fixtures.js'
import { makeLectureClip, makeMotionClip } from './source-clips.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

/** Predicted and measured bitrates agree within this factor either way (0.86-1.07 seen on these sources). */
const PREDICTION_FACTOR = 1.4

/** Encodes the whole ladder, unpruned, at the given CRFs; each rung's average video bitrate from its packets, as ffprobe reads them. */
async function encodeAndMeasure (t: Test, input: string, ladder: Ladder, crfs: number[], duration: number): Promise<number[]> {
  const out = await mkdtemp(join(await mediaDir(t), 'out-'))
  for (const r of ladder) await mkdir(rungPaths(out, r).dir, { recursive: true })
  await runProcess(toolPath('ffmpeg'), buildFfmpegArgs({
    input, outputDir: out, ladder, progressiveIndex: -1, hasAudio: false, segmentSeconds: 4, progress: false, rungCrf: crfs
  }), { timeoutMs: 300_000 })
  return ladder.map((r) => {
    const packets = ffprobeJson(rungPaths(out, r).playlist, ['-select_streams', 'v:0', '-show_entries', 'packet=size']).packets as Array<{ size: string }>
    return packets.reduce((sum, p) => sum + Number(p.size), 0) * 8 / duration
  })
}

async function planAndMeasure (t: Test, input: string) {
  const source = await probe(toolPath('ffprobe'), input)
  const plan = await planEncode({ ffmpegPath: toolPath('ffmpeg'), original: input, source, log: silentLog, signal: new AbortController().signal })
  const full = planLadder(source)
  const crfs = rungCrfs(full, plan.still)
  const predicted = predictBitrates(full, crfs, plan.complexity!)
  const measured = await encodeAndMeasure(t, input, full, crfs, source.duration)
  full.forEach((r, i) => {
    const ratio = predicted[i]! / measured[i]!
    t.ok(ratio < PREDICTION_FACTOR && ratio > 1 / PREDICTION_FACTOR,
      `${r.name}: predicted ${Math.round(predicted[i]! / 1000)}k, measured ${Math.round(measured[i]! / 1000)}k (x${ratio.toFixed(2)})`)
  })
  // What a player would fetch per rung: the real video bits, with the rung's audio and muxing.
  const total = measured.map((m, i) => playerBitrate(m, full[i]!, true))
  return { source, plan, full, measured, total }
}

t.test('a slide lecture: predictions hold, the near-flat ladder is pruned, and its text rungs get a lower CRF', async (t) => {
  const { plan, full, total } = await planAndMeasure(t, await makeLectureClip({}, t))
  t.same(full.map((r) => r.name), ['720p', '540p', '360p', '234p'])
  const adjacent = full.slice(1).map((r, i) => total[i]! / total[i + 1]!)
  t.ok(adjacent.some((x) => x < MIN_RUNG_RATIO), `measured: some neighbours are within ${MIN_RUNG_RATIO}x of each other (${adjacent.map((x) => x.toFixed(2)).join(', ')})`)
  t.ok(plan.dropped.length >= 1, `rungs dropped: ${plan.dropped.map((d) => d.rung.name).join(', ')}`)
  t.equal(plan.ladder[0]!.name, '720p', 'the top rung is kept')
  t.equal(plan.ladder[plan.ladder.length - 1]!.name, '234p', 'the lowest rung is kept')
  t.equal(plan.ladder.length + plan.dropped.length, full.length)
  t.equal(plan.still, true)
  t.same(plan.encode.rungCrf, plan.ladder.map((r) => (r.height >= 540 ? 20 : 23)))
})

t.test('high motion: predictions hold and every rung is kept', async (t) => {
  const { plan, full, total } = await planAndMeasure(t, await makeMotionClip({}, t))
  const adjacent = full.slice(1).map((r, i) => total[i]! / total[i + 1]!)
  t.ok(adjacent.every((x) => x >= MIN_RUNG_RATIO), `measured: neighbours are well apart (${adjacent.map((x) => x.toFixed(2)).join(', ')})`)
  t.same(plan.ladder.map((r) => r.name), full.map((r) => r.name))
  t.same(plan.dropped, [])
  t.equal(plan.still, false)
  t.same(plan.encode.rungCrf, full.map(() => 23))
})

t.test('a file the probe cannot encode: the full ladder, at the default CRF', async (t) => {
  const dir = await mediaDir(t)
  const source = { container: 'mp4', videoCodec: 'h264', audioCodec: null, size: 1, width: 1280, height: 720, frameRate: 30, bitrate: 5_000_000, duration: 10 }
  const plan = await planEncode({ ffmpegPath: toolPath('ffmpeg'), original: join(dir, 'missing.mp4'), source, log: silentLog, signal: new AbortController().signal })
  t.same(plan.ladder, planLadder(source))
  t.equal(plan.complexity, null)
  t.equal(plan.encode.rungCrf, undefined)
})
