import t, { type Test } from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Worker } from '../../transcoder/worker.js'
import { buildTestApp } from '../helpers/app.js'
import { tempDir } from '../helpers/config.js'
import { captureLogger } from '../helpers/capture-logger.js'
import { makeClip } from '../helpers/media.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { transcoderFixture, uploadVideo, getJob, getVideo, workerEnv } from './fixtures.js'
import { spawnWatched } from '../helpers/watched-process.js'
import { fileURLToPath } from 'node:url'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

/** The two broken installs an operator meets: nothing at the path, and a binary that fails. */
async function brokenFfmpegs (t: Test): Promise<Record<string, { path: string, says: RegExp }>> {
  const dir = await tempDir(t, 'lectern-broken-ffmpeg-')
  const failing = join(dir, 'ffmpeg')
  await writeFile(failing, '#!/bin/sh\necho "error while loading shared libraries: libavdevice.so.59" >&2\nexit 1\n', { mode: 0o755 })
  return {
    missing: { path: join(dir, 'not-installed', 'ffmpeg'), says: /^ffmpeg \(FFMPEG_PATH\) could not be started \(not found or not executable\); install ffmpeg 5 or later/ },
    'exits 1': { path: failing, says: /^ffmpeg \(FFMPEG_PATH\) failed on -version \(exit 1\); install ffmpeg 5 or later/ }
  }
}

/** Yields to the event loop until the condition holds (the worker checks its tools asynchronously). */
async function until (condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20))
}

t.test('/health/ready is 503 and names the problem when ffmpeg is missing or broken', async (t) => {
  for (const [name, broken] of Object.entries(await brokenFfmpegs(t))) {
    const { app } = await buildTestApp(t, { WORKER: 'inline', FFMPEG_PATH: broken.path })
    const ready = await app.inject('/health/ready')
    t.equal(ready.statusCode, 503, `${name}: not ready`)
    const body = ready.json()
    t.equal(body.dependencies.transcoder, 'down', name)
    t.match(body.details.transcoder, broken.says, `${name}: ${body.details.transcoder}`)
    t.notMatch(body.details.transcoder, /\/tmp\/|not-installed/, `${name}: the path is in the log, not in the answer`)
    await until(() => app.transcodeWorker?.refusal !== null)
    t.equal(app.transcodeWorker?.running, false, `${name}: the inline worker did not start claiming`)
  }
})

t.test('with a working ffmpeg, the transcoder is ok (and disabled on a node without a worker)', async (t) => {
  const { app } = await buildTestApp(t, { WORKER: 'inline' })
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200, ready.body)
  t.equal(ready.json().dependencies.transcoder, 'ok')
  t.equal(ready.json().details.transcoder, null)
  const { app: serving } = await buildTestApp(t, { WORKER: 'off', FFMPEG_PATH: '/nonexistent/ffmpeg' })
  const off = await serving.inject('/health/ready')
  t.equal(off.statusCode, 200, 'a node that does not transcode does not need ffmpeg')
  t.equal(off.json().dependencies.transcoder, 'disabled')
})

t.test('a worker with a broken ffmpeg logs one clear line and leaves the queue alone', async (t) => {
  for (const [name, broken] of Object.entries(await brokenFfmpegs(t))) {
    const fx = await transcoderFixture(t, { FFMPEG_PATH: broken.path })
    const { id, job } = await uploadVideo(fx, await makeClip({ seconds: 1, width: 160, height: 90 }, t))
    const { log, lines } = captureLogger('info')
    const worker = new Worker({ db: fx.db, storage: fx.storage, config: fx.config, log, pollIntervalMs: 20 })
    worker.start()
    t.teardown(() => worker.stop())
    await until(() => worker.refusal !== null)
    await until(() => !worker.running)
    const errors = lines.filter((l) => l.level >= 50)
    t.equal(errors.length, 1, `${name}: one error line`)
    t.match(errors[0]?.msg, /^transcode worker not started: ffmpeg \(FFMPEG_PATH\)/)
    t.match(String(errors[0]?.detail), broken.path.includes('not-installed') ? /not-installed\/ffmpeg/ : /libavdevice/, `${name}: the log has the path and the raw error`)
    t.match(await getJob(fx.db, job._id), { state: 'queued', attempts: 0 }, `${name}: the job was not claimed`)
    t.equal((await getVideo(fx.db, id)).status, 'uploaded', `${name}: the video was not failed for the server's fault`)
  }
})

t.test('npm run worker with a broken ffmpeg stops at start-up with one line saying what to fix', async (t) => {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  for (const [name, broken] of Object.entries(await brokenFfmpegs(t))) {
    const child = spawnWatched(t, process.execPath, ['--import', 'tsx', 'transcoder/worker-main.ts'], {
      cwd: root,
      env: workerEnv({ DATA_DIR: await tempDir(t), FFMPEG_PATH: broken.path })
    })
    let stdout = ''
    child.child.stdout!.on('data', (c: Buffer) => { stdout += c.toString() })
    t.equal(await child.exited, 1, `${name}: exit code 1`)
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: number, msg: string })
    t.equal(lines.length, 1, `${name}: one line`)
    t.match(lines[0], { level: 60, msg: /^lectern worker: ffmpeg \(FFMPEG_PATH\) (could not be started|failed on -version)/ }, name)
  }
})
