import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { testConfig } from './helpers/config.js'
import { childEnv } from './helpers/child-env.js'
import { makeClip } from './helpers/media.js'
import { requireTools } from './helpers/requirements.js'
import { spawnWatched, type WatchedProcess } from './helpers/watched-process.js'
import { openDatabase } from '../src/db/open-database.js'
import { createObjectStore } from '../src/storage/create-object-store.js'
import { getVideo, silentLog, uploadVideo } from './transcoder/fixtures.js'

// What the README's commands run: `npm start` (its prestart build, then node dist/src/server.js)
// and `npm run worker` (the same build, then node dist/transcoder/worker-main.js), from the
// JavaScript built into dist/, not the TypeScript the other tests load through tsx.

const root = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)

// The prestart step: builds dist/ when a source is newer than the last build (always on a fresh clone).
await run(process.execPath, ['scripts/build-if-needed.mjs'], { cwd: root, timeout: 240_000 })

/** Lines of a process's stdout, and a wait for the first one that matches. */
function lines (p: WatchedProcess): { all: string[], waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<string> } {
  const all: string[] = []
  const waiters: Array<{ pattern: RegExp, resolve: (line: string) => void }> = []
  createInterface({ input: p.child.stdout! }).on('line', (line) => {
    all.push(line)
    for (const w of waiters.splice(0)) {
      if (w.pattern.test(line)) w.resolve(line)
      else waiters.push(w)
    }
  })
  let stderr = ''
  p.child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) => new Promise<string>((resolve, reject) => {
    const seen = all.find((l) => pattern.test(l))
    if (seen !== undefined) return resolve(seen)
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)), timeoutMs)
    waiters.push({ pattern, resolve: (line) => { clearTimeout(timer); resolve(line) } })
    // After 'close' (every line read), not 'exit', which can come before the last lines.
    p.child.once('close', (code: number | null) => { clearTimeout(timer); reject(new Error(`exited (${code}) before a line matching ${pattern}; stderr: ${stderr.slice(-2000)}`)) })
  })
  return { all, waitFor }
}

t.test('node dist/src/server.js starts, is ready, and exits 0 on SIGTERM', async (t) => {
  t.ok(existsSync(`${root}dist/src/server.js`), 'the build wrote dist/src/server.js')
  const config = await testConfig(t)
  const server = spawnWatched(t, process.execPath, ['dist/src/server.js'], { cwd: root, env: childEnv({ DATA_DIR: config.dataDir, PORT: '0', WORKER: 'off', LOG_LEVEL: 'info' }) })
  const out = lines(server)
  const base = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(await out.waitFor(/Server listening at http:\/\/127\.0\.0\.1:\d+/))![1]!
  const ready = await fetch(`${base}/health/ready`)
  t.equal(ready.status, 200, await ready.clone().text())
  const reg = await fetch(`${base}/api/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'dist@example.org', password: 'correct horse battery', name: 'Dist' }) })
  t.equal(reg.status, 201, 'the API answers')
  server.signal('SIGTERM')
  t.equal(await server.exited, 0, 'exit 0 on SIGTERM')
})

t.test('npm run worker runs the built worker: it transcodes a queued job and stops on SIGTERM', async (t) => {
  if (!requireTools(t, 'ffmpeg', 'ffprobe')) return
  const config = await testConfig(t)
  const storage = await createObjectStore(config, silentLog)
  t.teardown(() => storage.close())
  let db = await openDatabase(config, silentLog)
  const { id } = await uploadVideo({ storage, db }, await makeClip({ seconds: 1, width: 160, height: 90 }, t))
  // The embedded store serves one process at a time: the worker process takes it over.
  await db.close()

  const tools: Record<string, string> = {}
  for (const name of ['FFMPEG_PATH', 'FFPROBE_PATH']) if (process.env[name] !== undefined) tools[name] = process.env[name]!
  const worker = spawnWatched(t, 'npm', ['run', '--silent', 'worker', '--', '--poll-ms', '100'], { cwd: root, env: childEnv({ ...tools, DATA_DIR: config.dataDir, LOG_LEVEL: 'info' }) })
  const out = lines(worker)
  await out.waitFor(/"msg":"transcode worker started"/)
  t.match(await out.waitFor(/"msg":"transcode job settled"/, 90_000), /"outcome":"done"/, 'the job is done')
  // npm and its shell do not pass signals on; the worker process gets SIGTERM as a terminal's ^C would give the group.
  worker.signalGroup('SIGTERM')
  await out.waitFor(/"msg":"worker stopped"/, 30_000)
  await worker.exited

  db = await openDatabase(config, silentLog)
  t.teardown(() => db.close())
  t.equal((await getVideo(db, id)).status, 'ready', 'the job the built worker ran made the video ready')
})
