import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

export interface ClipOptions {
  seconds?: number
  width?: number
  height?: number
  fps?: number
  /** add a 440 Hz stereo tone (default true) */
  audio?: boolean
  /** container by extension: mp4 (default), mkv, webm, ts, mov, m4a */
  format?: 'mp4' | 'mkv' | 'ts' | 'mov'
  /** `+faststart` moves the index to the front of an MP4 */
  faststart?: boolean
  /** x264 preset for making the clip; ultrafast keeps test set-up quick */
  preset?: string
  /** video bitrate in bits/s (default: x264 CRF 20) */
  videoBitrate?: number
  /** file name inside the directory */
  name?: string
  /** directory to write into (default: a fresh temp dir removed after the test, when t is given) */
  dir?: string
}

const ffmpeg = process.env.FFMPEG_PATH ?? 'ffmpeg'

/** Runs ffmpeg synchronously for test set-up; throws with its stderr on failure. */
export function runFfmpeg (args: string[]): void {
  const r = spawnSync(ffmpeg, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`)
}

/** A directory for media, removed after the test when t is given. */
export async function mediaDir (t?: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-media-'))
  t?.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Generates a clip with ffmpeg's `testsrc2` (moving, detailed picture, so encoders do real work)
 * and a `sine` tone, and returns its path. Small sizes keep tests fast on two cores.
 */
export async function makeClip (options: ClipOptions = {}, t?: Test): Promise<string> {
  const { seconds = 3, width = 640, height = 360, fps = 30, audio = true, format = 'mp4', preset = 'ultrafast' } = options
  const dir = options.dir ?? await mediaDir(t)
  const path = join(dir, options.name ?? `clip-${width}x${height}-${fps}-${seconds}s.${format}`)
  const args = [
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}:duration=${seconds}`,
    ...(audio ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`] : []),
    '-map', '0:v', ...(audio ? ['-map', '1:a', '-ac', '2', '-c:a', 'aac', '-b:a', '128k'] : []),
    '-c:v', 'libx264', '-preset', preset, '-pix_fmt', 'yuv420p',
    ...(options.videoBitrate !== undefined ? ['-b:v', String(options.videoBitrate)] : ['-crf', '20']),
    ...(options.faststart === true ? ['-movflags', '+faststart'] : []),
    '-t', String(seconds),
    path
  ]
  runFfmpeg(args)
  return path
}

/** An audio-only file (AAC in MP4) with the given length. */
export async function makeAudioOnly (options: { seconds?: number, dir?: string } = {}, t?: Test): Promise<string> {
  const dir = options.dir ?? await mediaDir(t)
  const path = join(dir, 'audio-only.mp4')
  runFfmpeg(['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${options.seconds ?? 2}`, '-c:a', 'aac', path])
  return path
}
