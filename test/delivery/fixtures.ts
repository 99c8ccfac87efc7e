import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { Rendition, Video, Visibility, VideoStatus } from '../../src/db/documents.js'
import { videoKeys, SEGMENT_NAME } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import { mediaDir, runFfmpeg } from '../helpers/media.js'
import { requireToolsForFile } from '../helpers/requirements.js'

export interface FixtureVideo {
  video: Video
  /** the stored objects by key, as put into storage */
  objects: Map<string, Buffer>
}

interface Rung { name: string, width: number, height: number, bitrate: number }

const RUNGS: Rung[] = [
  { name: '360p', width: 640, height: 360, bitrate: 600_000 },
  { name: '180p', width: 320, height: 180, bitrate: 200_000 }
]

/**
 * A real HLS ladder made by ffmpeg in the documented storage layout (what the transcoder
 * publishes): master.m3u8, <rung>/index.m3u8 and segment-NNNNN.ts, progressive.mp4, poster.jpg.
 * Made once per test file and reused for several video documents.
 */
export async function makeLadder (t: Test, seconds = 4): Promise<Map<string, Buffer>> {
  // Called at the top of a file (the ladder is its set-up), so a missing ffmpeg skips the file.
  requireToolsForFile(t, 'ffmpeg', 'ffprobe')
  const dir = await mediaDir(t)
  const files = new Map<string, Buffer>()
  const src = ['-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=25:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`]
  const progressive = join(dir, 'progressive.mp4')
  runFfmpeg([...src, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-movflags', '+faststart', progressive])
  files.set('progressive.mp4', await readFile(progressive))
  const poster = join(dir, 'poster.jpg')
  runFfmpeg(['-ss', '1', '-i', progressive, '-frames:v', '1', poster])
  files.set('poster.jpg', await readFile(poster))
  const master = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS']
  for (const rung of RUNGS) {
    const out = join(dir, rung.name)
    await mkdir(out)
    runFfmpeg(['-i', progressive, '-vf', `scale=${rung.width}:${rung.height}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', String(rung.bitrate),
      '-g', '25', '-keyint_min', '25', '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '64k',
      '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod', '-hls_segment_filename', join(out, 'segment-%05d.ts'), '-hls_flags', 'independent_segments',
      join(out, 'index.m3u8')])
    for (const name of await readdir(out)) files.set(`${rung.name}/${name}`, await readFile(join(out, name)))
    master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${rung.bitrate + 64_000},RESOLUTION=${rung.width}x${rung.height},CODECS="avc1.42c01e,mp4a.40.2"`, `${rung.name}/index.m3u8`)
  }
  files.set('master.m3u8', Buffer.from(master.join('\n') + '\n'))
  return files
}

export interface PublishOptions {
  visibility?: Visibility
  status?: VideoStatus
  owner?: string
  /** replaces progressive.mp4 (byte tests need no valid MP4): bytes, or a file streamed into storage */
  progressive?: Buffer | { path: string }
}

/** Stores a ladder under a fresh id and version, and inserts its Video document. */
export async function publishVideo (app: FastifyInstance, ladder: Map<string, Buffer>, options: PublishOptions = {}): Promise<FixtureVideo> {
  const id = newId()
  const version = 'v' + randomBytes(4).toString('hex')
  const objects = new Map<string, Buffer>()
  const prefix = videoKeys.versionPrefix(id, version)
  for (const [name, body] of ladder) {
    const replaced = name === 'progressive.mp4' ? options.progressive : undefined
    if (replaced !== undefined && !Buffer.isBuffer(replaced)) {
      await app.storage.put(prefix + name, createReadStream(replaced.path))
      continue
    }
    const content = replaced ?? body
    await app.storage.put(prefix + name, content)
    objects.set(prefix + name, content)
  }
  const renditions: Rendition[] = RUNGS.map((r) => ({
    name: r.name,
    width: r.width,
    height: r.height,
    frameRate: 25,
    bandwidth: r.bitrate + 64_000,
    averageBandwidth: r.bitrate,
    codecs: 'avc1.42c01e,mp4a.40.2',
    segmentCount: [...ladder.keys()].filter((k) => k.startsWith(r.name + '/') && SEGMENT_NAME.test(k.slice(r.name.length + 1))).length
  }))
  const now = new Date()
  const video: Video = {
    _id: id,
    owner: options.owner ?? newId(),
    title: 'Fixture lecture',
    description: '',
    tags: [],
    visibility: options.visibility ?? 'public',
    status: options.status ?? 'ready',
    progress: options.status === 'processing' ? 0.4 : 1,
    etaSeconds: null,
    failureReason: null,
    // One second per segment (makeLadder's -hls_time 1): as many seconds as the first rung has segments.
    duration: [...ladder.keys()].filter((k) => k.startsWith(`${renditions[0]!.name}/segment-`)).length,
    source: null,
    renditions,
    originalKey: videoKeys.original(id),
    originalSize: 0,
    originalName: null,
    version,
    posterKey: videoKeys.poster(id, version),
    progressiveKey: videoKeys.progressive(id, version),
    createdAt: now,
    updatedAt: now,
    views: 0
  }
  await app.db.collection<Video>(VIDEOS).insertOne(video)
  return { video, objects }
}

/** Writes size random bytes to a file in dir without holding them all at once. */
export async function writeRandomFile (dir: string, name: string, size: number): Promise<string> {
  const path = join(dir, name)
  const out = createWriteStream(path)
  for (let left = size; left > 0;) {
    const n = Math.min(left, 4 * 1024 * 1024)
    if (!out.write(randomBytes(n))) await once(out, 'drain')
    left -= n
  }
  out.end()
  await once(out, 'finish')
  return path
}
