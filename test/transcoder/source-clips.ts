import { join } from 'node:path'
import type { Test } from 'tap'
import { mediaDir, runFfmpeg } from '../helpers/media.js'

export interface ClipSize {
  seconds?: number
  width?: number
  height?: number
  /** directory to write into (default: a fresh temp dir, removed after the test when t is given) */
  dir?: string
}

/**
 * A slide lecture in miniature: a still, detailed picture (ffmpeg's testsrc, whose only change is
 * a counter once a second) with a small moving camera inset (testsrc2) in a corner, and a tone.
 */
export async function makeLectureClip (options: ClipSize = {}, t?: Test): Promise<string> {
  const { seconds = 6, width = 1280, height = 720 } = options
  const dir = options.dir ?? await mediaDir(t)
  const path = join(dir, 'lecture.mp4')
  const inset = `${Math.round(width / 4 / 2) * 2}x${Math.round(height / 4 / 2) * 2}`
  runFfmpeg([
    '-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=1,fps=30`,
    '-f', 'lavfi', '-i', `testsrc2=size=${inset}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=48000',
    '-filter_complex', '[0:v][1:v]overlay=x=W-w-24:y=H-h-24:shortest=1,format=yuv420p[v]',
    '-map', '[v]', '-map', '2:a', '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '8', '-c:a', 'aac', '-b:a', '128k', path
  ])
  return path
}

/** High motion everywhere: a zoom into the Mandelbrot set, new detail in every frame. */
export async function makeMotionClip (options: ClipSize = {}, t?: Test): Promise<string> {
  const { seconds = 4, width = 1280, height = 720 } = options
  const dir = options.dir ?? await mediaDir(t)
  const path = join(dir, 'motion.mp4')
  runFfmpeg([
    '-f', 'lavfi', '-i', `mandelbrot=size=${width}x${height}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=48000',
    '-map', '0:v', '-map', '1:a', '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '12', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', path
  ])
  return path
}
