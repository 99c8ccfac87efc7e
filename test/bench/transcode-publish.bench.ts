import { createReadStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import pino from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import { loadConfig } from '../../src/config.js'
import { newVideoDocument } from '../../src/db/video-repository.js'
import { openDatabase } from '../../src/db/open-database.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'
import { videoKeys, type Video } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { makeClip } from '../helpers/media.js'
import { makeLectureClip } from '../transcoder/source-clips.js'
import { formatBenchResult, type BenchResult } from './bench-result.js'
import { median } from './bench-process.js'

// Time from the end of an upload to the first playable segment of every rung (the video is
// published while it transcodes), next to the time until the whole job is done, which is when a
// video became playable before (the reference: the same job, same run). The whole pipeline runs
// as a worker runs it: original in storage, probe, planning, poster, one ffmpeg, segments stored
// as they appear, measurement, the MP4, the final playlists.

const LECTURE_SECONDS = Number(process.env.BENCH_LECTURE_SECONDS ?? 600)
const CLIP_SECONDS = Number(process.env.BENCH_CLIP_SECONDS ?? 20)
const ROUNDS = Number(process.env.BENCH_PUBLISH_ROUNDS ?? 2)
const LECTURE_ROUNDS = Number(process.env.BENCH_LECTURE_ROUNDS ?? 1)
const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger

interface Run { firstPlayable: number, total: number, ladder: string }

async function transcodeOnce (root: string, source: string, round: number): Promise<Run> {
  const dataDir = await mkdtemp(join(root, `data-${round}-`))
  // Embedded defaults: files on disk and the embedded store, whatever this shell has set.
  const { MONGODB_URL: _m, S3_BUCKET: _s, REDIS_URL: _r, ...env } = process.env
  const config = loadConfig({ ...env, DATA_DIR: dataDir })
  const storage = await createObjectStore(config, log)
  const db = await openDatabase(config, log)
  try {
    const id = newId()
    const info = await storage.put(videoKeys.original(id), createReadStream(source))
    await db.collection<Video>('videos').insertOne(newVideoDocument({
      id, owner: 'bench', title: 'bench', description: '', tags: [], visibility: 'public', originalSize: info.size, originalName: 'source.mp4'
    }))
    // The upload has ended here: the clock starts as a worker claims the job.
    const start = performance.now()
    const result = await transcodeVideo({ db, storage, config, log, signal: new AbortController().signal, tmpRoot: root }, id)
    const total = (performance.now() - start) / 1000
    return {
      firstPlayable: result.firstPlayableMs === null ? NaN : result.firstPlayableMs / 1000,
      total,
      ladder: result.renditions.map((r) => `${r.name} ${Math.round(r.averageBandwidth / 1000)}k`).join(', ')
    }
  } finally {
    await db.close()
    await storage.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

const spread = (values: number[]): string => values.length > 1
  ? `${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)}`
  : values.map((v) => v.toFixed(1)).join('')

export async function run (): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), 'lectern-bench-publish-'))
  try {
    process.stderr.write(`  making a ${LECTURE_SECONDS} s lecture-like 720p source and a ${CLIP_SECONDS} s 1080p one\n`)
    const sources = [
      { name: `lecture-like 720p30, ${LECTURE_SECONDS / 60} min (slides + moving inset)`, path: await makeLectureClip({ seconds: LECTURE_SECONDS, width: 1280, height: 720, dir: await mkdtemp(join(root, 'lecture-')) }), rounds: LECTURE_ROUNDS },
      { name: `1080p30 test pattern, ${CLIP_SECONDS} s`, path: await makeClip({ seconds: CLIP_SECONDS, width: 1920, height: 1080, fps: 30, preset: 'veryfast', dir: root, name: 'clip.mp4' }), rounds: ROUNDS }
    ]
    const rows: Array<Record<string, string | number>> = []
    const lines: string[] = []
    for (const source of sources) {
      const runs: Run[] = []
      for (let round = 1; round <= source.rounds; round++) {
        process.stderr.write(`  ${source.name}: round ${round}/${source.rounds}\n`)
        runs.push(await transcodeOnce(root, source.path, round))
      }
      const first = runs.map((r) => r.firstPlayable)
      const total = runs.map((r) => r.total)
      rows.push({
        source: source.name,
        'first playable s (median)': median(first),
        'spread s': spread(first),
        'whole job s (median)': median(total),
        'spread s ': spread(total),
        'playable after (share of job)': `${(100 * median(first) / median(total)).toFixed(1)}%`
      })
      lines.push(`${source.name}: ladder ${runs[0]!.ladder}; playable ${(median(total) / median(first)).toFixed(1)}x sooner than when the whole job is done (before this, a video played only then)`)
    }
    lines.push(`${source0Rounds(sources)}; ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
    return {
      name: 'publish while transcoding: seconds from the end of an upload to the first playable segment of every rung, and to the end of the job',
      rows,
      lines
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

function source0Rounds (sources: Array<{ name: string, rounds: number }>): string {
  return sources.map((s) => `${s.rounds} round${s.rounds === 1 ? '' : 's'} of the ${s.name.split(',')[0]}`).join(', ')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(formatBenchResult(await run()) + '\n')
}
