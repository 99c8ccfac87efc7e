import t, { type Test } from 'tap'
import { fileURLToPath } from 'node:url'
import { connect } from 'node:net'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { tempDir } from './helpers/config.js'
import { makeClip } from './helpers/media.js'
import { childEnv } from './helpers/child-env.js'
import { spawnWatched } from './helpers/watched-process.js'
import { requireTools } from './helpers/requirements.js'

const serverEntry = fileURLToPath(new URL('../src/server.ts', import.meta.url))

/** The server entry in a process of its own, under the watchdog (nothing outlives the test), with exactly env. */
function startServer (t: Test, env: Record<string, string>) {
  const server = spawnWatched(t, process.execPath, ['--import', 'tsx', serverEntry], { env: childEnv(env) })
  const child = server.child
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exited = server.exited.then((code) => [code] as const)
  const listening = new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (m !== null) resolve(m[1]!)
    }
    child.stdout!.on('data', onData)
    void exited.then(([code]) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)))
  })
  return { child, exited, listening, signal: server.signal, output: () => ({ stdout, stderr }) }
}

t.test('a bad configuration value stops start-up with one line and exit code 1', async (t) => {
  const dir = await tempDir(t)
  for (const [name, value, pattern] of [
    ['PORT', 'abc', /^lectern: invalid configuration: PORT: .*"abc"\n$/],
    ['REDIS_URL', 'localhost:6379', /^lectern: invalid configuration: REDIS_URL: /],
    ['S3_BUCKET', 'media', /^lectern: invalid configuration: S3_BUCKET: .*S3_ENDPOINT/]
  ] as const) {
    const s = startServer(t, { DATA_DIR: dir, [name]: value })
    s.listening.catch(() => {})
    const [code] = await s.exited
    t.equal(code, 1, `${name}: exit code 1`)
    t.match(s.output().stderr, pattern, name)
    t.equal(s.output().stderr.trim().split('\n').length, 1, `${name}: one line`)
  }
})

t.test('starts on embedded defaults, serves health, and exits 0 on SIGTERM', async (t) => {
  const dir = await tempDir(t)
  const s = startServer(t, { DATA_DIR: dir, PORT: '0', WORKER: 'off' })
  const base = await s.listening
  const live = await fetch(`${base}/health/live`)
  t.equal(live.status, 200)
  const ready = await fetch(`${base}/health/ready`)
  t.equal(ready.status, 200, await ready.clone().text())
  t.equal((await ready.json() as { status: string }).status, 'ok')
  s.signal('SIGTERM')
  const [code] = await s.exited
  t.equal(code, 0)
  t.match(s.output().stdout, /shutting down/)
})

t.test('SIGTERM lets an in-flight upload finish before the process exits', async (t) => {
  if (!requireTools(t, 'ffmpeg')) return
  const dir = await tempDir(t)
  const s = startServer(t, { DATA_DIR: dir, PORT: '0', WORKER: 'off' })
  const base = await s.listening
  const reg = await fetch(`${base}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'teacher@example.com', password: 'correct horse battery', name: 'Teacher' })
  })
  t.equal(reg.status, 201)
  const { token } = await reg.json() as { token: string }

  const clip = await readFile(await makeClip({ seconds: 2, width: 320, height: 180 }, t))
  const boundary = 'lecternboundary42'
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nGraceful shutdown\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n`)
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const body = Buffer.concat([head, clip, tail])
  const { port } = new URL(base)
  const socket = connect(Number(port), '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  let response = ''
  socket.setEncoding('latin1').on('data', (d: string) => { response += d })
  const ended = new Promise((resolve) => socket.once('close', resolve))
  socket.write(`POST /api/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`)
  const half = Math.floor(body.length / 2)
  socket.write(body.subarray(0, half))
  await sleep(300)

  s.signal('SIGTERM')
  await sleep(500)
  t.equal(s.child.exitCode, null, 'the process waits for the upload in flight')
  socket.write(body.subarray(half))
  await ended
  t.match(response, /^HTTP\/1\.1 202 /, 'the upload finished after the signal')
  t.match(response, /"status":"uploaded"/)
  const [code] = await s.exited
  t.equal(code, 0)
})
