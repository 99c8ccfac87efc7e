import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SourceInfo } from '../src/db/documents.js'
import { DEFAULT_CRF, DEFAULT_PRESET, keyframeSeconds } from './build-ffmpeg-args.js'
import { fileUrl, safeInputArgs } from './probe.js'
import { runProcess, type TranscodeLog } from './run-process.js'

/** One small encode of the sampled windows, as x264 reported it frame by frame. */
export interface ProbeEncode {
  width: number
  height: number
  frameRate: number
  /** seconds of video encoded */
  seconds: number
  /** average video bitrate, bits/s */
  bitrate: number
  /** share of the bits spent on keyframes: near 1 for still pictures, low for motion */
  keyframeShare: number
}

/** How expensive a source is to encode, from short encodes of a few sampled windows. */
export interface SourceComplexity {
  crf: number
  preset: string
  /** the windows sampled: start and length in seconds */
  windows: Array<{ start: number, seconds: number }>
  /** the probe encodes, smallest picture first */
  encodes: ProbeEncode[]
}

/** Windows sampled across the source, and their length: 5 x 2 s = 10 s of video, whatever its length. */
export const PROBE_WINDOWS = 5
export const PROBE_WINDOW_SECONDS = 2
/**
 * Short sides of the probe encodes: two sizes, so that how bits grow with picture size is
 * measured, not assumed; 540p rather than 360p, since extrapolating from 360p put a fractal zoom's
 * 720p at 0.65x of what it cost.
 */
export const PROBE_SHORT_SIDES: readonly [number, number] = [180, 540]
/** The probe runs at most at this rate, the rate of every rung below 720p. */
const PROBE_MAX_FPS = 30

/** Where the windows start: spread evenly, each in the middle of its share of the source. Pure. */
export function complexityWindows (duration: number, count = PROBE_WINDOWS, seconds = PROBE_WINDOW_SECONDS): Array<{ start: number, seconds: number }> {
  if (duration <= count * seconds) return [{ start: 0, seconds: Math.min(duration, count * seconds) }]
  const share = duration / count
  return Array.from({ length: count }, (_, i) => ({ start: round3(i * share + (share - seconds) / 2), seconds }))
}

/** A probe picture of short side `short`, keeping the source's shape, even sides, never above the source. Pure. */
export function probeSize (source: Pick<SourceInfo, 'width' | 'height'>, short: number): { width: number, height: number } {
  const scale = Math.min(1, short / Math.min(source.width, source.height))
  const even = (n: number) => Math.max(2, Math.round(n * scale / 2) * 2)
  return { width: even(source.width), height: even(source.height) }
}

export interface ComplexityProbeOptions {
  input: string
  windows: Array<{ start: number, seconds: number }>
  sizes: Array<{ width: number, height: number }>
  frameRate: number
  crf: number
  preset: string
  deinterlace: boolean
  /** the keyframe spacing of the real encode, so keyframes cost what they will cost there */
  keyframeSeconds: number
  vstatsPath: string
}

/**
 * One ffmpeg run: each window read with input seeking (from the keyframe before it, so no more
 * than the window is decoded), the windows joined, then encoded at each probe size with the
 * encoder settings of the ladder, to nowhere; x264's per-frame sizes go to the vstats file. Pure.
 */
export function complexityProbeArgs (o: ComplexityProbeOptions): string[] {
  const inputs = o.windows.flatMap((w) => [
    '-noaccurate_seek', '-ss', String(w.start), '-t', String(w.seconds), ...safeInputArgs(), '-i', fileUrl(o.input)
  ])
  // Without accurate seeking a window's timestamps start before zero; each is made to start at zero.
  const starts = o.windows.map((_, i) => `[${i}:v:0]setpts=PTS-STARTPTS[w${i}];`).join('')
  const joined = starts + o.windows.map((_, i) => `[w${i}]`).join('') + `concat=n=${o.windows.length}:v=1:a=0`
  const head = [joined, ...(o.deinterlace ? ['bwdif=mode=send_frame:deint=interlaced'] : []), `fps=${o.frameRate}`, 'format=yuv420p', `split=${o.sizes.length}`].join(',')
  const graph = head + o.sizes.map((_, i) => `[p${i}]`).join('') + ';' +
    o.sizes.map((s, i) => `[p${i}]scale=${s.width}:${s.height}:flags=bicubic,setsar=1[o${i}]`).join(';')
  const gop = Math.ceil(o.frameRate * o.keyframeSeconds)
  return [
    '-hide_banner', '-nostdin', '-y', '-v', 'error',
    ...inputs,
    '-filter_complex', graph,
    ...o.sizes.flatMap((_, i) => [
      '-map', `[o${i}]`, '-an', '-sn', '-dn',
      '-c:v', 'libx264', '-preset', o.preset, '-crf', String(o.crf), '-threads', '1',
      '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
      '-force_key_frames', `expr:gte(t,n_forced*${o.keyframeSeconds})`,
      '-f', 'null', '-'
    ]),
    '-vstats_file', o.vstatsPath
  ]
}

/** Per output of a vstats file: frames, bytes, and bytes of keyframes. Pure. */
export function parseVstats (text: string, outputs: number): Array<{ frames: number, bytes: number, keyframeBytes: number }> {
  const totals = Array.from({ length: outputs }, () => ({ frames: 0, bytes: 0, keyframeBytes: 0 }))
  for (const line of text.split('\n')) {
    const m = /out=\s*(\d+)\s.*?f_size=\s*(\d+)\s.*type=\s*([A-Z])/.exec(line)
    if (m === null) continue
    const total = totals[Number(m[1])]
    if (total === undefined) continue
    total.frames++
    total.bytes += Number(m[2])
    if (m[3] === 'I') total.keyframeBytes += Number(m[2])
  }
  return totals
}

export interface MeasureComplexityInput {
  ffmpegPath: string
  original: string
  source: Pick<SourceInfo, 'width' | 'height' | 'frameRate' | 'duration' | 'interlaced'>
  segmentSeconds?: number
  crf?: number
  preset?: string
  log?: TranscodeLog
  signal?: AbortSignal
  tmpRoot?: string
  timeoutMs?: number
}

/**
 * Encodes PROBE_WINDOWS windows of PROBE_WINDOW_SECONDS spread over the source at two small
 * sizes with the ladder's encoder settings, and reports the bitrates x264 reached. Its cost is
 * about 10 s of source decoded and 10 s encoded at 540p and 180p, whatever the source's length.
 */
export async function measureComplexity (o: MeasureComplexityInput): Promise<SourceComplexity> {
  const crf = o.crf ?? DEFAULT_CRF
  const preset = o.preset ?? DEFAULT_PRESET
  const frameRate = Math.min(o.source.frameRate > 0 ? o.source.frameRate : 30, PROBE_MAX_FPS)
  const windows = complexityWindows(o.source.duration)
  const sizes = PROBE_SHORT_SIDES.map((short) => probeSize(o.source, short))
  const dir = await mkdtemp(join(o.tmpRoot ?? tmpdir(), 'lectern-complexity-'))
  try {
    const vstatsPath = join(dir, 'vstats.txt')
    const args = complexityProbeArgs({
      input: o.original, windows, sizes, frameRate, crf, preset, deinterlace: o.source.interlaced === true,
      keyframeSeconds: keyframeSeconds(o.segmentSeconds ?? 4), vstatsPath
    })
    const started = Date.now()
    // At the encode's priority: with WORKER=inline the API shares these cores.
    await runProcess(o.ffmpegPath, args, { timeoutMs: o.timeoutMs ?? 120_000, niceness: 10, signal: o.signal, log: o.log })
    const totals = parseVstats(await readFile(vstatsPath, 'utf8'), sizes.length)
    const encodes = totals.map((t, i): ProbeEncode => {
      if (t.frames === 0) throw new Error(`the complexity probe encoded no frames at ${sizes[i]!.width}x${sizes[i]!.height}`)
      const seconds = t.frames / frameRate
      return { ...sizes[i]!, frameRate, seconds, bitrate: Math.round(t.bytes * 8 / seconds), keyframeShare: round3(t.keyframeBytes / t.bytes) }
    })
    o.log?.info({ windows: windows.length, ms: Date.now() - started, encodes: encodes.map((e) => `${e.width}x${e.height} ${Math.round(e.bitrate / 1000)}k keyframes ${e.keyframeShare}`) }, 'source complexity measured')
    return { crf, preset, windows, encodes }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function round3 (n: number): number {
  return Math.round(n * 1000) / 1000
}
