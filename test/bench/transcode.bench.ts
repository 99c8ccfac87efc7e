import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { probe } from '../../transcoder/probe.js'
import { planLadder, progressiveRung, type Ladder, type PlannedRung } from '../../transcoder/plan-ladder.js'
import {
  buildFfmpegArgs, rungPaths, keyframeSeconds, DEFAULT_PRESET, DEFAULT_CRF, type EncodeOptions
} from '../../transcoder/build-ffmpeg-args.js'
import { runProcess } from '../../transcoder/run-process.js'
import { makeClip } from '../helpers/media.js'
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

async function timed (run: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint()
  await run()
  return Number(process.hrtime.bigint() - start) / 1e9
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
      await runProcess(ffmpeg, buildFfmpegArgs({ ...common, outputDir }), { timeoutMs: 600_000 })
      await rm(outputDir, { recursive: true, force: true })
    }
    const perRung = async () => {
      const outputDir = await freshDir(root, ladder)
      for (const rung of ladder) {
        await runProcess(ffmpeg, perRungArgs(input, outputDir, rung, rung === progressive, hasAudio), { timeoutMs: 600_000 })
      }
      await rm(outputDir, { recursive: true, force: true })
    }

    // Interleaved rounds, best of each: the machine is shared, and the best run is the one
    // least disturbed by others.
    const one: number[] = []
    const per: number[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`  round ${round}/${ROUNDS}: one process for the ladder\n`)
      one.push(await timed(oneProcess))
      process.stderr.write(`  round ${round}/${ROUNDS}: one process per rung\n`)
      per.push(await timed(perRung))
    }
    const bestOne = Math.min(...one)
    const bestPer = Math.min(...per)
    const rows = [
      { variant: 'Lectern: one process, cascade', 'best s': bestOne, 'x real time': SECONDS / bestOne, runs: one.map((s) => s.toFixed(1)).join(' ') },
      { variant: 'one ffmpeg process per rung', 'best s': bestPer, 'x real time': SECONDS / bestPer, runs: per.map((s) => s.toFixed(1)).join(' ') }
    ]
    return {
      name: `transcode ${SECONDS} s of 1080p30 into ${ladder.map((r) => r.name).join('/')} (libx264 ${DEFAULT_PRESET}, CRF ${DEFAULT_CRF} capped, keyframes every ${keyframeSeconds(SEGMENT_SECONDS)} s, AAC; HLS + ${progressive.name} MP4)`,
      rows,
      lines: [`one-process ladder is ${(bestPer / bestOne).toFixed(2)}x as fast as one process per rung (target >= 1.25x)`]
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(formatBenchResult(await run()) + '\n')
}
