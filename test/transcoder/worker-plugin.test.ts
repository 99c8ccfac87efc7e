import t from 'tap'
import { buildApp } from '../../src/app.js'
import { testConfig } from '../helpers/config.js'
import { makeClip } from '../helpers/media.js'
import { openDatabase } from '../../src/db/open-database.js'
import { uploadVideo, getVideo, getJob, silentLog, until, untilMidEncode } from './fixtures.js'
import { requireToolsForFile } from '../helpers/requirements.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')


t.test('WORKER=inline: the API process transcodes uploads, and gives a running job back on close', async (t) => {
  const config = await testConfig(t, { WORKER: 'inline' })
  const app = await buildApp(config, { logger: false })
  let closed = false
  t.teardown(async () => { if (!closed) await app.close() })
  t.ok(app.transcodeWorker?.running, 'the worker runs inside the app')

  const short = await uploadVideo({ storage: app.storage, db: app.db }, await makeClip({ seconds: 2, width: 320, height: 180 }, t))
  await until('the short clip to be transcoded', async () => ['ready', 'failed'].includes((await getVideo(app.db, short.id)).status))
  const video = await getVideo(app.db, short.id)
  t.equal(video.status, 'ready', video.failureReason ?? '')
  // The job is settled after the video is written ready (two writes): under load the test can
  // look between them.
  await until('the short clip\'s job to be settled', async () => (await getJob(app.db, short.job._id)).state !== 'running')
  t.equal((await getJob(app.db, short.job._id)).state, 'done')

  const long = await uploadVideo({ storage: app.storage, db: app.db }, await makeClip({ seconds: 20, width: 640, height: 360 }, t))
  await untilMidEncode(() => getVideo(app.db, long.id))
  await app.close()
  closed = true
  const db = await openDatabase(config, silentLog)
  t.teardown(() => db.close())
  const jobAfterClose = await getJob(db, long.job._id)
  t.match(jobAfterClose, { state: 'queued', attempts: 0, leaseOwner: null }, 'released for the next worker, no attempt used')
})

t.test('WORKER=off: no worker in this process', async (t) => {
  const config = await testConfig(t, { WORKER: 'off' })
  const app = await buildApp(config, { logger: false })
  t.teardown(() => app.close())
  t.equal(app.transcodeWorker, null)
})
