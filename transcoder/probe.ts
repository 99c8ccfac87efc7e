import { stat } from 'node:fs/promises'
import type { SourceInfo, SourceSubtitle } from '../src/db/documents.js'
import { runProcess, ProcessError, lastLines, type TranscodeLog } from './run-process.js'
import { TranscodeError } from './transcode-error.js'

/**
 * Demuxers Lectern accepts. Everything else — notably `hls`, `concat`, `image2` and the other
 * playlist-like formats that open further files or URLs — is refused before a byte is read from
 * anything but the original. Each ffprobe/ffmpeg call on an upload passes these.
 */
export const INPUT_FORMAT_WHITELIST = 'mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,asf,mpeg,ogg,mxf,dv'

/** Input options that pin an untrusted input to real containers read from one local file. */
export function safeInputArgs (): string[] {
  return ['-format_whitelist', INPUT_FORMAT_WHITELIST, '-protocol_whitelist', 'file']
}

/** `file:` keeps a path that looks like a URL or contains a colon from being read as a protocol. */
export function fileUrl (path: string): string {
  return 'file:' + path
}

const MAX_PLAUSIBLE_FPS = 240
const VARIABLE_RATE_FPS = 30

interface FfprobeStream {
  codec_type?: string
  codec_name?: string
  width?: number
  height?: number
  sample_aspect_ratio?: string
  avg_frame_rate?: string
  r_frame_rate?: string
  duration?: string
  bit_rate?: string
  field_order?: string
  disposition?: { attached_pic?: number, default?: number }
  tags?: { rotate?: string, language?: string, title?: string }
  side_data_list?: Array<{ side_data_type?: string, rotation?: number }>
}

interface FfprobeOutput {
  format?: { format_name?: string, duration?: string, bit_rate?: string, size?: string }
  streams?: FfprobeStream[]
}

function parseRate (rate: string | undefined): number {
  if (rate === undefined) return 0
  const [n, d] = rate.split('/').map(Number)
  if (n === undefined || !Number.isFinite(n)) return 0
  if (d === undefined) return n
  return d > 0 ? n / d : 0
}

function parseRatio (ratio: string | undefined): number {
  if (ratio === undefined) return 1
  const [n, d] = ratio.split(':').map(Number)
  return n !== undefined && d !== undefined && n > 0 && d > 0 ? n / d : 1
}

function rotationOf (stream: FfprobeStream): number {
  const fromSideData = stream.side_data_list?.find((s) => typeof s.rotation === 'number')?.rotation
  const degrees = fromSideData ?? Number(stream.tags?.rotate ?? 0)
  return Number.isFinite(degrees) ? ((Math.round(degrees) % 360) + 360) % 360 : 0
}

/** ffprobe's field orders of interlaced video; progressive and unknown are taken as progressive. */
const INTERLACED_FIELD_ORDERS = new Set(['tt', 'bb', 'tb', 'bt'])

const tag = (value: string | undefined): string | null => (value === undefined || value.trim() === '' ? null : value.trim())

/**
 * Reads what an untrusted original holds. ffprobe runs with the input format and protocol
 * whitelists, so a playlist in disguise fails as unsupported input. Every failure is a
 * TranscodeError; input problems are permanent, tool problems (timeout, missing binary) are not.
 */
export async function probe (ffprobePath: string, path: string, options: { log?: TranscodeLog, signal?: AbortSignal, timeoutMs?: number } = {}): Promise<SourceInfo> {
  const { size } = await stat(path)
  if (size === 0) throw new TranscodeError('unsupported input: the file is empty', true)
  let stdout: string
  try {
    const result = await runProcess(ffprobePath, [
      '-v', 'error', '-hide_banner',
      ...safeInputArgs(),
      '-print_format', 'json',
      '-show_format', '-show_streams',
      fileUrl(path)
    ], { timeoutMs: options.timeoutMs ?? 60_000, captureStdout: true, log: options.log, signal: options.signal })
    stdout = result.stdout
  } catch (err) {
    if (err instanceof ProcessError && err.reason === 'exit') {
      const tail = err.result?.stderrTail ?? ''
      if (/not on whitelist/i.test(tail)) {
        throw new TranscodeError('unsupported input: not a media container Lectern accepts (mp4/mov, mkv/webm, avi, mpeg-ts, flv, ...)', true, { cause: err })
      }
      throw new TranscodeError(`unsupported input: the file could not be read as media (${lastLines(tail.replace(/file:\S+: /g, ''), 2, 300) || 'unknown error'})`, true, { cause: err })
    }
    throw new TranscodeError(`probe failed: ${(err as Error).message}`, false, { cause: err })
  }
  return sourceInfoFrom(JSON.parse(stdout) as FfprobeOutput, size)
}

/** Turns ffprobe's JSON into SourceInfo, refusing inputs that cannot make a ladder. */
export function sourceInfoFrom (out: FfprobeOutput, size: number): SourceInfo {
  const streams = out.streams ?? []
  // Cover art in audio files is a "video" stream with attached_pic; it is not a video.
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1)
  // The track the author marked default (a dub's original language, a commentary left off), else the first.
  const audios = streams.filter((s) => s.codec_type === 'audio')
  const defaultAudio = audios.findIndex((s) => s.disposition?.default === 1)
  const audioStream = audios.length === 0 ? null : Math.max(0, defaultAudio)
  const audio = audioStream === null ? undefined : audios[audioStream]
  const subtitles: SourceSubtitle[] = streams.filter((s) => s.codec_type === 'subtitle').map((s, index) => ({
    index, codec: s.codec_name ?? 'unknown', language: tag(s.tags?.language), title: tag(s.tags?.title)
  }))
  if (video === undefined) throw new TranscodeError('unsupported input: the file has no video stream', true)
  const codedWidth = video.width ?? 0
  const codedHeight = video.height ?? 0
  if (codedWidth <= 0 || codedHeight <= 0) throw new TranscodeError('unsupported input: the video stream has no picture size (corrupt header?)', true)
  const duration = Number(out.format?.duration ?? video.duration ?? 0)
  if (!Number.isFinite(duration) || duration <= 0) throw new TranscodeError('unsupported input: the video has no duration (zero length or corrupt header)', true)
  // Variable-rate recordings (browsers, screen capture) report a time base such as 1000/1 rather
  // than a frame rate; they are encoded at a constant 30 fps.
  const plausible = (r: number) => r > 0 && r <= MAX_PLAUSIBLE_FPS
  const frameRate = [parseRate(video.avg_frame_rate), parseRate(video.r_frame_rate)].find(plausible) ?? VARIABLE_RATE_FPS

  // Players show the picture after the sample aspect ratio and the rotation are applied; ffmpeg
  // applies both when it decodes, so the ladder is planned on the displayed shape.
  let width = Math.round(codedWidth * Math.max(1, parseRatio(video.sample_aspect_ratio)))
  let height = Math.round(codedHeight / Math.min(1, parseRatio(video.sample_aspect_ratio)))
  const rotation = rotationOf(video)
  if (rotation === 90 || rotation === 270) [width, height] = [height, width]

  const bitrate = Number(out.format?.bit_rate ?? 0) || Math.round(size * 8 / duration)
  return {
    container: out.format?.format_name ?? 'unknown',
    videoCodec: video.codec_name ?? 'unknown',
    audioCodec: audio?.codec_name ?? null,
    size,
    width,
    height,
    frameRate: Math.round(frameRate * 1000) / 1000,
    bitrate,
    duration,
    interlaced: INTERLACED_FIELD_ORDERS.has(video.field_order ?? ''),
    audioStream,
    subtitles
  }
}
