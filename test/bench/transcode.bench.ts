import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { probe } from '../../transcoder/probe.js'
import { planLadder, progressiveRung, type Ladder, type PlannedRung } from '../../transcoder/plan-ladder.js'
import {
  buildFfmpegArgs, rungPaths, keyframeSeconds, DEFAULT_PRESET, DEFAULT_CRF, type EncodeOptions
} from '../../transcoder/build-ffmpeg-args.js'
import { runProcess } from '../../transcoder/run-process.js'
import { makeClip } from '../helpers/media.js'
import { planEncode } from '../../transcoder/plan-encode.js'
import { MIN_RUNG_RATIO } from '../../transcoder/prune-ladder.js'
import { makeLectureClip, makeMotionClip } from '../transcoder/source-clips.js'
import { readdir, stat } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { formatBenchResult, type BenchResult } from './bench-result.js'

// Lectern's one-process ladder (decode once, cascade scaling, threads split between the rungs)
// against the common approach, one ffmpeg process per rung, each decoding and scaling the source
// itself with ffmpeg's default threading. Both encode the same rungs with the same encoder
// settings (preset, CRF, VBV caps, keyframes, audio) and write the same outputs (HLS per rung,
// plus the faststart MP4 of the 720p rung).

const SECONDS = Number(process.env.BENCH_TRANSCODE_SECONDS ?? 20)
const ROUNDS = Number(process.env.BENCH_TRANSCODE_ROUNDS ?? 2)
const SEGMENT_SECONDS = 4
const ffmpeg = process.env.FFMPEG_PATH ?? 'ffmpeg'
const ffprobe = process.env.FFPROBE_PATH ?? 'ffprobe'

/** The reference: one rung, decoded and scaled from the source, encoded exactly as Lectern encodes it. */
function perRungArgs (input: string, outputDir: string, rung: PlannedRung, progressive: boolean, hasAudio: boolean): string[] {
  // Reuse Lectern's per-output encoder arguments for a one-rung ladder, so the settings are identical;
  // only the filter (scale straight from the source) and the threading (ffmpeg's default) differ.
  const args = buildFfmpegArgs({
    input,
    outputDir,
    ladder: [rung],
    progressiveIndex: progressive ? 0 : -1,
    hasAudio,
    segmentSeconds: SEGMENT_SECONDS,
    progress: false,
    encoderThreads: () => 0
  })
  return args
}

// CPU seconds as well as wall time: on a shared machine, wall time depends on what else runs,
// while the work each approach asks of the CPU does not. GNU time reports the child's CPU use.
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null

/** Runs ffmpeg; returns the CPU seconds it used (NaN when that cannot be known). */
async function ffmpegCpu (args: string[]): Promise<number> {
  if (GNU_TIME === null) {
    await runProcess(ffmpeg, args, { timeoutMs: 600_000 })
    return NaN
  }
  const result = await runProcess(GNU_TIME, ['-f', 'LECTERN_CPU %U %S', ffmpeg, ...args], { timeoutMs: 600_000 })
  const m = /LECTERN_CPU ([\d.]+) ([\d.]+)/.exec(result.stderrTail)
  return m === null ? NaN : Number(m[1]) + Number(m[2])
}

async function timed (run: () => Promise<number>): Promise<{ wall: number, cpu: number }> {
  const start = process.hrtime.bigint()
  const cpu = await run()
  return { wall: Number(process.hrtime.bigint() - start) / 1e9, cpu }
}

async function freshDir (root: string, ladder: Ladder): Promise<string> {
  const dir = await mkdtemp(join(root, 'out-'))
  for (const rung of ladder) await mkdir(rungPaths(dir, rung).dir, { recursive: true })
  return dir
}

export async function run (): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), 'lectern-bench-transcode-'))
  try {
    process.stderr.write(`  making a ${SECONDS} s 1080p30 clip\n`)
    const input = await makeClip({ seconds: SECONDS, width: 1920, height: 1080, fps: 30, preset: 'veryfast', dir: root, name: 'source.mp4' })
    const source = await probe(ffprobe, input)
    const ladder = planLadder(source)
    const progressive = progressiveRung(ladder)
    const hasAudio = source.audioCodec !== null
    const common: Omit<EncodeOptions, 'outputDir'> = {
      input, ladder, progressiveIndex: ladder.indexOf(progressive), hasAudio, segmentSeconds: SEGMENT_SECONDS, progress: false
    }

    const oneProcess = async () => {
      const outputDir = await freshDir(root, ladder)
      const cpu = await ffmpegCpu(buildFfmpegArgs({ ...common, outputDir }))
      await rm(outputDir, { recursive: true, force: true })
      return cpu
    }
    const perRung = async () => {
      const outputDir = await freshDir(root, ladder)
      let cpu = 0
      for (const rung of ladder) cpu += await ffmpegCpu(perRungArgs(input, outputDir, rung, rung === progressive, hasAudio))
      await rm(outputDir, { recursive: true, force: true })
      return cpu
    }

    // Interleaved rounds, best of each: the machine is shared, and the best run is the one
    // least disturbed by others.
    const one: Array<{ wall: number, cpu: number }> = []
    const per: Array<{ wall: number, cpu: number }> = []
    for (let round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`  round ${round}/${ROUNDS}: one process for the ladder\n`)
      one.push(await timed(oneProcess))
      process.stderr.write(`  round ${round}/${ROUNDS}: one process per rung\n`)
      per.push(await timed(perRung))
    }
    const best = (runs: Array<{ wall: number, cpu: number }>) => runs.reduce((a, b) => (b.wall < a.wall ? b : a))
    const bestOne = best(one)
    const bestPer = best(per)
    const row = (variant: string, b: { wall: number, cpu: number }, runs: Array<{ wall: number }>) => ({
      variant,
      'wall s': b.wall,
      'x real time': SECONDS / b.wall,
      'CPU s': b.cpu,
      'x real time per core': SECONDS / b.cpu,
      'all runs (wall s)': runs.map((r) => r.wall.toFixed(1)).join(' ')
    })
    const lines = [
      `one-process ladder: ${(bestPer.wall / bestOne.wall).toFixed(2)}x as fast as one process per rung in wall time (target >= 1.25x)`
    ]
    if (Number.isFinite(bestOne.cpu) && Number.isFinite(bestPer.cpu)) {
      lines.push(`and ${(bestPer.cpu / bestOne.cpu).toFixed(2)}x less CPU time (independent of other load on the machine)`)
    }
    if (process.env.BENCH_LADDER !== '0') lines.push(...await ladderFit())
    lines.push(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores`)
    return {
      name: `transcode ${SECONDS} s of 1080p30 into ${ladder.map((r) => r.name).join('/')} (libx264 ${DEFAULT_PRESET}, CRF ${DEFAULT_CRF} capped, keyframes every ${keyframeSeconds(SEGMENT_SECONDS)} s, AAC; HLS + ${progressive.name} MP4), best of ${ROUNDS}`,
      rows: [row('Lectern: one process, cascade', bestOne, one), row('one ffmpeg process per rung', bestPer, per)],
      lines
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

// Ladder fit: what planEncode makes of a slide lecture and of high motion. The complexity probe's
// cost, the rungs kept with their predicted and measured bitrates (as a player sees them: segment
// bytes over duration), and the encode's speed, against the full ladder.
const LADDER_LECTURE_SECONDS = Number(process.env.BENCH_LADDER_LECTURE_SECONDS ?? 120)
const LADDER_MOTION_SECONDS = Number(process.env.BENCH_LADDER_MOTION_SECONDS ?? 20)

/** CPU seconds of this process's finished children (Linux: cutime + cstime, at 100 ticks a second); NaN elsewhere. */
function childCpuSeconds (): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[13]) + Number(fields[14])) / 100
  } catch {
    return NaN
  }
}

async function ladderFit (): Promise<string[]> {
  const root = await mkdtemp(join(tmpdir(), 'lectern-bench-ladder-'))
  try {
    const lines: string[] = ['', 'ladder fit (planEncode: complexity probe, prediction, pruning, CRF for still sources):']
    const sources = [
      { kind: 'slide lecture', seconds: LADDER_LECTURE_SECONDS, make: () => makeLectureClip({ seconds: LADDER_LECTURE_SECONDS, dir: root }) },
      { kind: 'high motion (fractal zoom)', seconds: LADDER_MOTION_SECONDS, make: () => makeMotionClip({ seconds: LADDER_MOTION_SECONDS, dir: root }) }
    ]
    for (const { kind, make } of sources) {
      process.stderr.write(`  ladder fit: making the ${kind} source\n`)
      const input = await make()
      const source = await probe(ffprobe, input)
      const log = { debug () {}, info () {}, warn () {}, error () {} }
      const started = process.hrtime.bigint()
      const cpuBefore = childCpuSeconds()
      const plan = await planEncode({ ffmpegPath: ffmpeg, original: input, source, log, signal: new AbortController().signal, segmentSeconds: SEGMENT_SECONDS })
      const probeSeconds = Number(process.hrtime.bigint() - started) / 1e9
      const probeCpu = childCpuSeconds() - cpuBefore
      const hasAudio = source.audioCodec !== null
      const encode = async (ladder: Ladder, extra: Partial<EncodeOptions>) => {
        const outputDir = await freshDir(root, ladder)
        process.stderr.write(`  ladder fit: ${kind}, encoding ${ladder.map((r) => r.name).join('/')}\n`)
        const { wall, cpu } = await timed(() => ffmpegCpu(buildFfmpegArgs({
          input, outputDir, ladder, progressiveIndex: ladder.indexOf(progressiveRung(ladder)), hasAudio, segmentSeconds: SEGMENT_SECONDS, progress: false, ...extra
        })))
        const kbps: number[] = []
        for (const rung of ladder) {
          const dir = rungPaths(outputDir, rung).dir
          let bytes = 0
          for (const f of (await readdir(dir)).filter((n) => n.endsWith('.ts'))) bytes += (await stat(join(dir, f))).size
          kbps.push(Math.round(bytes * 8 / source.duration / 1000))
        }
        await rm(outputDir, { recursive: true, force: true })
        return { wall, cpu, kbps }
      }
      const planned = await encode(plan.ladder, plan.encode)
      const full = planLadder(source)
      const whole = await encode(full, {})
      const cpu = (c: number) => (Number.isFinite(c) ? `, CPU ${c.toFixed(1)} s` : '')
      const probeEncode = plan.complexity?.encodes.map((e) => `${e.height}p ${Math.round(e.bitrate / 1000)}k`).join(', ') ?? 'failed'
      lines.push(
        `  ${kind}, ${source.width}x${source.height} ${source.duration.toFixed(0)} s: probe ${probeSeconds.toFixed(1)} s${cpu(probeCpu)} (${probeEncode}; ${plan.still ? 'still' : 'not still'})`,
        `    planned: ${plan.ladder.map((r, i) => `${r.name} ${planned.kbps[i]}k (predicted ${Math.round(plan.predictedTotal[i]! / 1000)}k, CRF ${plan.encode.rungCrf?.[i] ?? DEFAULT_CRF})`).join(', ')}` +
          `; encode ${planned.wall.toFixed(1)} s = ${(source.duration / planned.wall).toFixed(2)}x real time${cpu(planned.cpu)}`,
        `    dropped: ${plan.dropped.length === 0 ? 'none' : plan.dropped.map((d) => `${d.rung.name} (~${Math.round(d.bitrate / 1000)}k, within ${MIN_RUNG_RATIO}x of ${d.closeTo} ~${Math.round(d.closeToBitrate / 1000)}k)`).join(', ')}`,
        `    full ladder at CRF ${DEFAULT_CRF}: ${full.map((r, i) => `${r.name} ${whole.kbps[i]}k`).join(', ')}; encode ${whole.wall.toFixed(1)} s = ${(source.duration / whole.wall).toFixed(2)}x real time${cpu(whole.cpu)}`
      )
    }
    return lines
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(formatBenchResult(await run()) + '\n')
}
