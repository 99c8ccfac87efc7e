import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { openDatabase } from '../../src/db/open-database.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'
import { makeClip } from '../helpers/media.js'
import { testConfig, tempDir } from '../helpers/config.js'
import { freePort } from '../helpers/free-port.js'
import { requireMongoServer, startMongoServer } from '../helpers/ferretdb-server.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { uploadVideo, getVideo, silentLog, workerEnv } from '../transcoder/fixtures.js'
import { scrape, sum } from './scrape.js'

// The worker process (npm run worker) has no API port: its metrics are on METRICS_PORT. A real
// transcode runs in it, and its figures are checked against what the test saw and can count.

requireToolsForFile(t, 'ffmpeg', 'ffprobe')
const root = fileURLToPath(new URL('../..', import.meta.url))

t.test('the worker process: its own metrics port, a transcode counted', async (t) => {
  if (!requireMongoServer(t)) return
  const server = await startMongoServer(t)
  const config = await testConfig(t, { MONGODB_URL: server.url })
  const storage = await createObjectStore(config, silentLog)
  const db = await openDatabase(config, silentLog)
  t.teardown(async () => { await db.close(); await storage.close() })
  const clipSeconds = 4
  const { id } = await uploadVideo({ storage, db }, await makeClip({ seconds: clipSeconds, width: 320, height: 180 }, t))

  const port = await freePort()
  const started = performance.now()
  const child = spawn(process.execPath, ['--import', 'tsx', 'transcoder/worker-main.ts', '--poll-ms', '100'], {
    cwd: root,
    env: workerEnv({ DATA_DIR: config.dataDir, MONGODB_URL: server.url, METRICS_PORT: String(port), LOG_LEVEL: 'warn', TMPDIR: await tempDir(t) }),
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL') })

  let first
  for (let i = 0; i < 100; i++) {
    first = await scrape(`http://127.0.0.1:${port}`).catch(() => undefined)
    if (first !== undefined) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(first?.status, 200, 'the worker answers on METRICS_PORT')
  t.ok(first?.samples.has('process_cpu_user_seconds_total'), 'with Node process metrics')

  let video = await getVideo(db, id)
  while (video.status !== 'ready' && video.status !== 'failed') {
    await new Promise((resolve) => setTimeout(resolve, 200))
    video = await getVideo(db, id)
  }
  const wall = (performance.now() - started) / 1000
  t.equal(video.status, 'ready')
  // The job settles (and is counted) just after the video is made ready: wait for that state.
  let after = await scrape(`http://127.0.0.1:${port}`)
  for (const deadline = Date.now() + 10_000; sum(after.samples, 'lectern_transcode_jobs_settled_total', { outcome: 'done' }) === 0 && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    after = await scrape(`http://127.0.0.1:${port}`)
  }
  t.equal(sum(after.samples, 'lectern_transcode_jobs_settled_total', { outcome: 'done' }), 1, 'one job done')
  t.equal(sum(after.samples, 'lectern_transcode_jobs', { state: 'done' }), 1, 'the database holds one done job')
  t.equal(sum(after.samples, 'lectern_transcode_queue_depth'), 0)
  t.equal(sum(after.samples, 'lectern_transcode_busy'), 0)
  t.equal(sum(after.samples, 'lectern_transcode_duration_seconds_count'), 1)
  const took = sum(after.samples, 'lectern_transcode_duration_seconds_sum')
  t.ok(took > 0 && took < wall, `the job took ${took.toFixed(2)} s, within the ${wall.toFixed(2)} s the test waited`)
  const speed = sum(after.samples, 'lectern_transcode_speed_ratio_sum')
  t.ok(Math.abs(speed - video.duration! / took) < 0.01 * speed, `speed ${speed.toFixed(2)}x = ${video.duration} s of content / ${took.toFixed(2)} s`)
  t.ok(speed > clipSeconds / wall * 0.99, 'at least the content over the whole wait')
  const written = (await storage.list(`videos/${id}/`)).length
  t.ok(written >= 4, `${written} objects published`)
  // Each stored object took at least one timed put; playlists (and the master) are written again
  // as they grow while the video is published during its transcode, and once more at the end.
  const puts = sum(after.samples, 'lectern_storage_operation_seconds_count', { op: 'put', result: 'ok' })
  t.ok(puts >= written, `every object written was a timed put (${puts} puts for ${written} objects)`)
  t.equal(sum(after.samples, 'lectern_storage_operation_seconds_count', { op: 'put', result: 'error' }), 0, 'and none failed')
  t.ok(sum(after.samples, 'lectern_storage_operation_seconds_count', { op: 'get', result: 'ok' }) >= 1, 'the original was read')

  process.kill(-child.pid!, 'SIGTERM')
  t.equal(await exited, 0, 'the worker stops cleanly, its metrics port with it')
})
