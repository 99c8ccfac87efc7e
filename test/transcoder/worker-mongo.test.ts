import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { openDatabase } from '../../src/db/open-database.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'
import type { Database } from '../../src/db/collection.js'
import { enqueueTranscode, claimJob } from '../../transcoder/job-queue.js'
import { Worker, type JobSettled } from '../../transcoder/worker.js'
import { makeClip } from '../helpers/media.js'
import { testConfig, tempDir } from '../helpers/config.js'
import { requireMongoServer, startMongoServer } from '../helpers/ferretdb-server.js'
import { uploadVideo, getVideo, getJob, silentLog, workerEnv } from './fixtures.js'
import { spawnWatched } from '../helpers/watched-process.js'
import { requireToolsForFile } from '../helpers/requirements.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

const root = fileURLToPath(new URL('../..', import.meta.url))

t.test('on MongoDB: concurrent claimers never share a job', async (t) => {
  if (!requireMongoServer(t)) return
  const server = await startMongoServer(t)
  const config = await testConfig(t, { MONGODB_URL: server.url })
  // Four separate connections, as four worker processes would have.
  const dbs: Database[] = []
  for (let i = 0; i < 4; i++) dbs.push(await openDatabase(config, silentLog))
  t.teardown(() => Promise.all(dbs.map((db) => db.close())))
  const ids = new Set<string>()
  for (let i = 0; i < 24; i++) ids.add((await enqueueTranscode(dbs[0]!, `video-${i}`, `owner-${i % 3}`))._id)
  const claimed: string[] = []
  await Promise.all(dbs.map(async (db, w) => {
    for (;;) {
      const job = await claimJob(db, `worker-${w}`, 60_000)
      if (job === null) return
      claimed.push(job._id)
    }
  }))
  t.equal(claimed.length, ids.size, 'every job claimed')
  t.same(new Set(claimed), ids, 'each exactly once')
})

t.test('on MongoDB: a worker process killed mid-job, a live worker takes it over', async (t) => {
  if (!requireMongoServer(t)) return
  const server = await startMongoServer(t)
  const config = await testConfig(t, { MONGODB_URL: server.url })
  const storage = await createObjectStore(config, silentLog)
  const db = await openDatabase(config, silentLog)
  t.teardown(async () => { await db.close(); await storage.close() })
  const { id, job } = await uploadVideo({ storage, db }, await makeClip({ seconds: 20, width: 640, height: 360 }, t))

  const dying = spawnWatched(t, process.execPath, ['--import', 'tsx', 'transcoder/worker-main.ts', '--lease-ms', '1500', '--poll-ms', '100'], {
    cwd: root,
    env: workerEnv({ DATA_DIR: config.dataDir, MONGODB_URL: server.url, LOG_LEVEL: 'debug', TMPDIR: await tempDir(t) })
  })
  const child = dying.child
  const encoding = await new Promise<boolean>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"transcode progress"') && !line.includes('"progress":0,')) resolve(true)
    })
    child.once('exit', () => resolve(false))
  })
  t.ok(encoding, 'the worker process is encoding')

  // A second worker is already polling while the first one runs: it must not touch the job.
  const settled: JobSettled[] = []
  const worker = new Worker({ db, storage, config, log: silentLog, tmpRoot: await tempDir(t), leaseMs: 1500, pollIntervalMs: 100, onJobSettled: (e) => settled.push(e) })
  worker.start()
  t.teardown(() => worker.stop())
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.equal(worker.currentJob, null, 'a held lease keeps the live worker away')
  t.equal((await getJob(db, job._id)).attempts, 1)

  dying.killGroup()
  await dying.exited
  const keepAlive = setInterval(() => {}, 1000)
  while (settled.length === 0) await new Promise((resolve) => setTimeout(resolve, 100))
  clearInterval(keepAlive)
  t.same(settled.map((s) => s.outcome), ['done'])
  t.match(await getJob(db, job._id), { state: 'done', attempts: 2 })
  t.equal((await getVideo(db, id)).status, 'ready')
})
