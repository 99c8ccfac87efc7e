import { readdir } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { openDatabase } from '../../src/db/open-database.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'
import { videoKeys } from '../../src/db/documents.js'
import { readObject } from '../../src/storage/read-object.js'
import { Worker, type JobSettled } from '../../transcoder/worker.js'
import { makeClip } from '../helpers/media.js'
import { testConfig, tempDir } from '../helpers/config.js'
import { uploadVideo, getVideo, getJob, silentLog, workerEnv } from './fixtures.js'
import { spawnWatched } from '../helpers/watched-process.js'
import { requireToolsForFile } from '../helpers/requirements.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

const root = fileURLToPath(new URL('../..', import.meta.url))
const LEASE_MS = 1500

t.test('a worker killed mid-job: another worker takes the job over when the lease runs out', async (t) => {
  const config = await testConfig(t)
  const storage = await createObjectStore(config, silentLog)
  t.teardown(() => storage.close())
  let db = await openDatabase(config, silentLog)
  const { id, job } = await uploadVideo({ storage, db }, await makeClip({ seconds: 20, width: 640, height: 360 }, t))
  // The embedded store serves one process at a time; the worker process takes it over.
  await db.close()

  const childTmp = await tempDir(t, 'lectern-worker-tmp-')
  // Its own process group, so the kill takes its ffmpeg down with it, as a machine dying would.
  const dying = spawnWatched(t, process.execPath, ['--import', 'tsx', 'transcoder/worker-main.ts', '--lease-ms', String(LEASE_MS), '--poll-ms', '100'], {
    cwd: root,
    env: workerEnv({ DATA_DIR: config.dataDir, LOG_LEVEL: 'debug', TMPDIR: childTmp })
  })
  const child = dying.child
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })

  let workerId: string | undefined
  const encoding = await new Promise<boolean>((resolve) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      let entry: { msg?: string, workerId?: string, progress?: number }
      try { entry = JSON.parse(line) } catch { return }
      if (entry.msg === 'transcode job claimed') workerId = entry.workerId
      if (entry.msg === 'transcode progress' && (entry.progress ?? 0) > 0) resolve(true)
    })
    child.once('exit', () => resolve(false))
  })
  t.ok(encoding, `the worker process claimed the job and ffmpeg is encoding ${encoding ? '' : stderr}`)
  dying.killGroup()
  t.equal(await dying.exited, 128 + 9, 'the worker process died of SIGKILL')

  db = await openDatabase(config, silentLog)
  t.teardown(() => db.close())
  const orphan = await getJob(db, job._id)
  t.match(orphan, { state: 'running', attempts: 1, leaseOwner: workerId }, 'the dead worker still holds the job')
  t.equal((await getVideo(db, id)).status, 'processing')

  const settled: JobSettled[] = []
  const tmpRoot = await tempDir(t)
  const worker = new Worker({ db, storage, config, log: silentLog, tmpRoot, leaseMs: LEASE_MS, pollIntervalMs: 100, onJobSettled: (e) => settled.push(e) })
  worker.start()
  t.teardown(() => worker.stop())
  const keepAlive = setInterval(() => {}, 1000)
  while (settled.length === 0) await new Promise((resolve) => setTimeout(resolve, 100))
  clearInterval(keepAlive)

  t.same(settled.map((s) => [s.jobId, s.outcome]), [[job._id, 'done']])
  const finished = await getJob(db, job._id)
  t.match(finished, { state: 'done', attempts: 2, leaseOwner: null })
  t.ok(finished.updatedAt.getTime() >= orphan.leaseExpiresAt!.getTime(), 'taken over only after the lease ran out')
  const video = await getVideo(db, id)
  t.equal(video.status, 'ready')
  t.ok(Math.abs(video.duration! - 20) < 0.1)
  const versions = new Set((await storage.list(videoKeys.prefix(id))).map((o) => o.key.split('/')[2]))
  t.same([...versions], [video.version], 'one published ladder')
})

t.test('SIGTERM: the worker process stops ffmpeg, gives the job back and exits 0', async (t) => {
  const config = await testConfig(t)
  const storage = await createObjectStore(config, silentLog)
  t.teardown(() => storage.close())
  let db = await openDatabase(config, silentLog)
  const { id, job } = await uploadVideo({ storage, db }, await makeClip({ seconds: 20, width: 640, height: 360 }, t))
  await db.close()

  const childTmp = await tempDir(t, 'lectern-worker-tmp-')
  const worker = spawnWatched(t, process.execPath, ['--import', 'tsx', 'transcoder/worker-main.ts', '--poll-ms', '100'], {
    cwd: root,
    env: workerEnv({ DATA_DIR: config.dataDir, LOG_LEVEL: 'debug', TMPDIR: childTmp })
  })
  const child = worker.child
  const encoding = await new Promise<boolean>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"transcode progress"') && !line.includes('"progress":0,')) resolve(true)
    })
    child.once('exit', () => resolve(false))
  })
  t.ok(encoding, 'encoding')
  worker.signal('SIGTERM')
  t.equal(await worker.exited, 0, 'clean exit')

  db = await openDatabase(config, silentLog)
  t.teardown(() => db.close())
  t.match(await getJob(db, job._id), { state: 'queued', attempts: 0, leaseOwner: null }, 'the job is back in the queue')
  const video = await getVideo(db, id)
  t.not(video.status, 'ready')
  const stored = await storage.list(videoKeys.prefix(id))
  if (video.playable === true) {
    // Published while it transcoded: viewers play that version until the next attempt catches up.
    t.same([...new Set(stored.map((o) => o.key.split('/')[2]))], [video.version], 'only the version viewers play is left')
    for (const r of video.renditions) {
      const listed = (await readObject(storage, videoKeys.mediaPlaylist(id, video.version!, r.name))).toString('utf8').split('\n').filter((l) => l.startsWith('segment-'))
      const keys = new Set(stored.map((o) => o.key))
      t.ok(listed.every((s) => keys.has(videoKeys.segment(id, video.version!, r.name, s))), `every segment its ${r.name} playlist lists is stored`)
    }
  } else {
    t.same(stored, [], 'nothing was published, nothing is left')
  }
  t.same((await readdir(childTmp)).filter((f) => f.startsWith('lectern-transcode-')), [], 'the worker removed its temp files')
})
