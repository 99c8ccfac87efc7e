import { createReadStream } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { pino } from 'pino'
import type { Test } from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../../src/config.js'
import type { Database } from '../../src/db/collection.js'
import type { Job, Video } from '../../src/db/documents.js'
import { videoKeys } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { openDatabase } from '../../src/db/open-database.js'
import { newVideoDocument } from '../../src/db/video-repository.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { enqueueTranscode, JOBS } from '../../transcoder/job-queue.js'
import { testConfig, tempDir } from '../helpers/config.js'
import { childEnv } from '../helpers/child-env.js'

export interface TranscoderFixture {
  config: Config
  storage: ObjectStore
  db: Database
  log: FastifyBaseLogger
  /** temp root for transcodes, to check that nothing is left behind */
  tmpRoot: string
}

export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) as unknown as FastifyBaseLogger

/** Storage and metadata store on embedded defaults in a temp DATA_DIR, closed after the test. */
export async function transcoderFixture (t: Test, env: Record<string, string> = {}): Promise<TranscoderFixture> {
  const config = await testConfig(t, env)
  const storage = await createObjectStore(config, silentLog)
  const db = await openDatabase(config, silentLog)
  const tmpRoot = await tempDir(t, 'lectern-transcode-root-')
  t.teardown(async () => { await db.close().catch(() => {}); await storage.close() })
  return { config, storage, db, log: silentLog, tmpRoot }
}

/** What the upload route does: store the original, record the video as uploaded, enqueue a job. */
export async function uploadVideo (fx: { storage: ObjectStore, db: Database }, path: string, options: { maxAttempts?: number, owner?: string } = {}): Promise<{ id: string, job: Job }> {
  const id = newId()
  const info = await fx.storage.put(videoKeys.original(id), createReadStream(path))
  await fx.db.collection<Video>('videos').insertOne(newVideoDocument({
    id, owner: options.owner ?? 'u1', title: 'clip', description: '', tags: [], visibility: 'public', originalSize: info.size, originalName: 'clip.mp4'
  }))
  const job = await enqueueTranscode(fx.db, id, options.owner ?? 'u1', options.maxAttempts)
  return { id, job }
}

export async function getVideo (db: Database, id: string): Promise<Video> {
  const v = await db.collection<Video>('videos').findOne({ _id: id })
  if (v === null) throw new Error(`no video ${id}`)
  return v
}

export async function getJob (db: Database, id: string): Promise<Job> {
  const j = await db.collection<Job>(JOBS).findOne({ _id: id })
  if (j === null) throw new Error(`no job ${id}`)
  return j
}

/** Files left under a directory (recursively). */
export async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => e.name)
}

/** ffprobe JSON of a file, for assertions. */
export function ffprobeJson (path: string, args: string[]): any {
  const r = spawnSync(process.env.FFPROBE_PATH ?? 'ffprobe', ['-v', 'error', '-print_format', 'json', ...args, path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`ffprobe ${path}: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

/**
 * The environment of a worker process a test starts: exactly what it names (DATA_DIR, MONGODB_URL,
 * ...) plus PATH and the tool paths, never the developer's own store settings (a MONGODB_URL,
 * S3_BUCKET or REDIS_URL of theirs would send the worker to another store and the test would hang).
 */
export function workerEnv (settings: Record<string, string>): NodeJS.ProcessEnv {
  const tools: Record<string, string> = {}
  for (const name of ['FFMPEG_PATH', 'FFPROBE_PATH']) {
    const value = process.env[name]
    if (value !== undefined && value !== '') tools[name] = value
  }
  return childEnv({ ...tools, ...settings })
}

/**
 * Waits until a video is mid-encode (processing, with progress above 0), which tests of cancel
 * and shutdown need. Fails with a message, instead of spinning until tap's timeout, when the
 * encode finished or failed between two looks, or nothing happened within timeoutMs.
 */
export async function untilMidEncode (read: () => Promise<{ status: string, progress: number }>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  // The worker's timers are unref'd; hold the test open while waiting.
  const keepAlive = setInterval(() => {}, 1000)
  try {
    for (;;) {
      const v = await read()
      if (v.status === 'processing' && v.progress > 0) return
      if (v.status === 'ready' || v.status === 'failed') {
        throw new Error(`the encode was ${v.status} before any progress was seen mid-encode: the clip is too short for this machine`)
      }
      if (Date.now() > deadline) throw new Error(`no encoding progress within ${timeoutMs} ms (status ${v.status}, progress ${v.progress})`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  } finally {
    clearInterval(keepAlive)
  }
}

/** Polls check every 100 ms until it holds; fails with what it waited for after timeoutMs. */
export async function until (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const keepAlive = setInterval(() => {}, 1000)
  try {
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for: ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    clearInterval(keepAlive)
  }
}
