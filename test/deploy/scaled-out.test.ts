import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { tempDir } from '../helpers/config.js'
import { makeClip } from '../helpers/media.js'
import { freePort, redisServerMissing, startRedisServer } from '../helpers/redis-server.js'
import { mongoServerMissing, startMongoServer } from '../helpers/ferretdb-server.js'
import { s3ServerFor } from '../helpers/s3-server.js'
import { multipartBody } from '../plugins/multipart-body.js'
import { loadConfig } from '../../src/config.js'
import { S3ObjectStore } from '../../src/storage/s3-object-store.js'

// compose.yaml's topology with the containers replaced by processes on loopback: nginx (the
// repository's nginx.conf) in front of two API nodes, one transcode worker, Redis, a
// MongoDB-protocol server (FerretDB) and an S3 server (s3rver). Every request of the scenario
// goes through nginx; the nodes are asked directly only to compare what each of them answers.

const root = fileURLToPath(new URL('../../', import.meta.url))
// Every child runs under the watchdog, so a test killed by tap's timeout leaves nothing behind.
const WATCHDOG = fileURLToPath(new URL('../helpers/child-watchdog.mjs', import.meta.url))
// nginx's workers outlive a SIGKILLed master, so nginx gets a watchdog of its own that, when the
// test process goes away, asks for a fast shutdown (SIGTERM: the master stops its workers) first.
const GENTLE_WATCHDOG = `
const { spawn } = require('node:child_process')
const { constants } = require('node:os')
const [command, ...args] = process.argv.slice(1)
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] })
child.on('error', (err) => { process.stderr.write(command + ': ' + err.message + '\\n'); process.exit(127) })
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)))
const send = (signal) => { if (child.exitCode === null && child.signalCode === null) child.kill(signal) }
let pending = ''
process.stdin.setEncoding('utf8').on('data', (data) => {
  pending += data
  let nl
  while ((nl = pending.indexOf('\\n')) !== -1) {
    const signal = pending.slice(0, nl).trim()
    pending = pending.slice(nl + 1)
    if (signal in constants.signals) send(signal)
  }
})
const stop = () => { send('SIGTERM'); setTimeout(() => send('SIGKILL'), 5000).unref() }
process.stdin.on('end', stop)
process.stdin.on('error', stop)
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop)
`
const READY_WITHIN_MS = 120_000
const SEARCH_WITHIN_MS = 30_000
const START_WITHIN_MS = 60_000
const STOP_WITHIN_MS = 30_000
const OUTPUT_TAIL = 64 * 1024

/** Resolves with 'timeout' after ms, without holding the process open once the race is won. */
const deadlineOf = async (ms: number) => await sleep(ms, 'timeout' as const, { ref: false })

function nginxBinary (): string | undefined {
  for (const candidate of [process.env.NGINX_PATH, 'nginx', '/usr/sbin/nginx']) {
    if (candidate === undefined || candidate === '') continue
    const probe = spawnSync(candidate, ['-v'], { encoding: 'utf8', timeout: 5000 })
    if (probe.error === undefined && probe.status === 0) return candidate
  }
  return undefined
}

function missingTools (): string | undefined {
  const ffmpeg = spawnSync(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-version'], { timeout: 5000 })
  const missing = [
    redisServerMissing(),
    nginxBinary() === undefined ? 'nginx is not installed (apt-get install -y nginx)' : undefined,
    ffmpeg.error !== undefined || ffmpeg.status !== 0 ? 'ffmpeg is not runnable (apt-get install -y ffmpeg)' : undefined,
    mongoServerMissing()
  ].filter((m) => m !== undefined)
  return missing.length === 0 ? undefined : missing.join('; ')
}

interface Launched {
  name: string
  child: ChildProcess
  /** The exit code (the watchdog passes the command's own on). */
  exited: Promise<number | null>
  stdout: () => string
  stderr: () => string
  signal: (sig: NodeJS.Signals) => void
  /** Resolves with the first match of pattern in stdout; rejects if the process exits or time runs out. */
  waitFor: (pattern: RegExp, timeoutMs: number) => Promise<RegExpExecArray>
}

function launch (t: Test, name: string, command: string, args: string[], options: { env: Record<string, string>, gentle?: boolean }): Launched {
  const watchdog = options.gentle === true ? ['-e', GENTLE_WATCHDOG] : [WATCHDOG]
  const child = spawn(process.execPath, [...watchdog, command, ...args], {
    cwd: root,
    env: options.env,
    stdio: ['pipe', 'pipe', 'pipe']
  })
  child.stdin!.on('error', () => {})
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout = (stdout + d).slice(-OUTPUT_TAIL) })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-OUTPUT_TAIL) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const alive = () => child.exitCode === null && child.signalCode === null
  const signal = (sig: NodeJS.Signals) => { if (alive()) child.stdin!.write(`${sig}\n`) }
  t.teardown(async () => {
    if (!alive()) return
    if (options.gentle === true) {
      signal('SIGTERM')
      await Promise.race([exited, deadlineOf(5000)])
    }
    // Through the watchdog, which kills the command; killing the watchdog itself would orphan it.
    signal('SIGKILL')
    if (await Promise.race([exited, deadlineOf(5000)]) === 'timeout') child.kill('SIGKILL')
    await exited
  })
  const waitFor = (pattern: RegExp, timeoutMs: number) => new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`${name}: no ${String(pattern)} in its output within ${timeoutMs} ms\n${stdout}\n${stderr}`)) }, timeoutMs)
    const check = () => {
      const m = pattern.exec(stdout)
      if (m !== null) { cleanup(); resolve(m) }
    }
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`${name} exited (${String(code)}) early:\n${stdout}\n${stderr}`)) }
    const cleanup = () => { clearTimeout(timer); child.stdout!.off('data', check); child.off('exit', onExit) }
    child.stdout!.on('data', check)
    child.once('exit', onExit)
    check()
  })
  return { name, child, exited, stdout: () => stdout, stderr: () => stderr, signal, waitFor }
}

/** The repository's nginx.conf, changed only where containers and processes differ. */
async function nginxConfig (dir: string, upstreams: [string, string], port: number, edgeLogPorts: [number, number]): Promise<string> {
  const original = await readFile(join(root, 'nginx/nginx.conf'), 'utf8')
  let i = 0
  let e = 0
  const conf = original
    .replace(/server api\d:3000/g, () => `server ${upstreams[i++]!}`)
    .replace(/syslog:server=api\d:5140/g, () => `syslog:server=127.0.0.1:${edgeLogPorts[e++]!}`)
    .replace('access_log /var/log/nginx/access.log', `access_log ${join(dir, 'logs/access.log')}`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`)
    .replace('/var/cache/nginx/lectern', join(dir, 'cache'))
    // The packaged nginx writes temp files and the access log under /var; keep them in the prefix.
    .replace(/^http \{$/m, [
      'http {',
      `  access_log ${join(dir, 'logs/access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${join(dir, 'temp', k)};`)
    ].join('\n'))
  if (i !== 2) throw new Error(`nginx.conf has ${i} "server apiN:3000" lines; this test expects two`)
  if (e !== 2) throw new Error(`nginx.conf has ${e} "syslog:server=apiN:5140" targets; this test expects two`)
  for (const [from, to] of [['listen 80;', 'listen'], ['/var/cache/nginx/lectern', 'proxy_cache_path'], ['\nhttp {', 'http block']] as const) {
    if (!original.includes(from)) throw new Error(`nginx.conf no longer has "${from.trim()}"; update the ${to} rewrite in this test`)
  }
  return conf
}

async function getJson (url: string, init: RequestInit = {}): Promise<{ status: number, body: any, headers: Headers }> {
  const res = await fetch(url, init)
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body, headers: res.headers }
}

async function getBytes (url: string, headers: Record<string, string> = {}): Promise<{ status: number, bytes: Buffer, headers: Headers }> {
  const res = await fetch(url, { headers })
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers }
}

/** The first URI line of a playlist, resolved against the playlist's own URL. */
function firstUri (playlist: string, base: string): string {
  const line = playlist.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'))
  if (line === undefined) throw new Error(`no URI in the playlist:\n${playlist}`)
  return new URL(line, base).href
}

async function freeUdpPort (): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

/**
 * Fetches url `times` times back to back over one keep-alive connection, reading each body at
 * `bitsPerSecond` (the socket is paused between reads, so TCP's window holds the sender to it): a
 * viewer behind a link of that rate, as the server sees it.
 */
async function readAtRate (url: string, times: number, bitsPerSecond: number): Promise<Array<{ status: number, cache: string | null }>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const out: Array<{ status: number, cache: string | null }> = []
  try {
    for (let i = 0; i < times; i++) {
      out.push(await new Promise((resolve, reject) => {
        http.get(url, { agent }, (res) => {
          const started = Date.now()
          let bytes = 0
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length
            const due = started + bytes * 8 / bitsPerSecond * 1000
            const wait = due - Date.now()
            if (wait > 0) {
              res.pause()
              setTimeout(() => res.resume(), wait)
            }
          })
          res.on('end', () => {
            const wait = started + bytes * 8 / bitsPerSecond * 1000 - Date.now()
            setTimeout(() => resolve({ status: res.statusCode!, cache: (res.headers['x-cache-status'] as string | undefined) ?? null }), Math.max(0, wait))
          })
          res.on('error', reject)
        }).on('error', reject)
      }))
    }
  } finally {
    agent.destroy()
  }
  return out
}

const missing = missingTools()
if (missing !== undefined && process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
  throw new Error(`the scaled-out test must run in CI, but: ${missing}`)
}
if (missing !== undefined) console.log(`# skipping the scaled-out topology test: ${missing}`)

t.test('scaled-out topology: nginx, two API nodes, a worker, Redis, FerretDB and S3 as processes', {
  skip: missing ?? false,
  // The waits inside are bounded one by one; this only catches a hang between them.
  timeout: 280_000
}, async (t) => {
  const started = Date.now()
  const [redis, mongo, s3] = await Promise.all([startRedisServer(t), startMongoServer(t), s3ServerFor(t)])
  t.comment(`metadata on ${mongo.source}`)
  const shared = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    TRUST_PROXY: 'true',
    REDIS_URL: redis.url,
    MONGODB_URL: mongo.url,
    S3_REGION: 'us-east-1',
    ...s3.env,
    JWT_SECRET: randomBytes(32).toString('hex')
  }

  const edgeLogPorts: [number, number] = [await freeUdpPort(), await freeUdpPort()]
  const node = async (name: string, edgeLogPort: number) => {
    const dataDir = await tempDir(t, `lectern-${name}-`)
    return launch(t, name, process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { ...shared, PORT: '0', WORKER: 'off', DATA_DIR: dataDir, TMPDIR: dataDir, ABR_EDGE_LOG_PORT: String(edgeLogPort) }
    })
  }
  const api1 = await node('api1', edgeLogPorts[0])
  const api2 = await node('api2', edgeLogPorts[1])
  const workerDir = await tempDir(t, 'lectern-worker-')
  const workerMetricsPort = await freePort()
  const worker = launch(t, 'worker', process.execPath, ['--import', 'tsx', 'transcoder/worker-main.ts', '--poll-ms', '200'], {
    env: { ...shared, DATA_DIR: workerDir, TMPDIR: workerDir, METRICS_PORT: String(workerMetricsPort) }
  })
  const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/
  const [node1, node2] = await Promise.all([api1, api2].map(async (n) => (await n.waitFor(listening, START_WITHIN_MS))[1]!))
  const nodes = [node1!, node2!]

  const nginxDir = await tempDir(t, 'lectern-nginx-')
  // nginx run as root hands its workers to an unprivileged user, which must reach the prefix.
  await chmod(nginxDir, 0o755)
  await mkdir(join(nginxDir, 'logs'))
  await mkdir(join(nginxDir, 'temp'))
  const nginxPort = await freePort()
  const conf = join(nginxDir, 'nginx.conf')
  await writeFile(conf, await nginxConfig(nginxDir, nodes.map((n) => new URL(n).host) as [string, string], nginxPort, edgeLogPorts))
  const nginx = launch(t, 'nginx', nginxBinary()!, ['-p', nginxDir, '-c', conf, '-g',
    `daemon off; pid ${join(nginxDir, 'nginx.pid')}; error_log ${join(nginxDir, 'logs/error.log')} warn;`], { env: { PATH: process.env.PATH ?? '' }, gentle: true })
  const lb = `http://127.0.0.1:${nginxPort}`
  for (const deadline = Date.now() + START_WITHIN_MS; ;) {
    const live = await fetch(`${lb}/health/live`).then((r) => r.status, () => 0)
    if (live === 200) break
    if (nginx.child.exitCode !== null || Date.now() > deadline) {
      const log = await readFile(join(nginxDir, 'logs/error.log'), 'utf8').catch(() => '')
      throw new Error(`nginx did not proxy /health/live (last status ${live}):\n${nginx.stderr()}\n${log}`)
    }
    await sleep(100)
  }
  t.comment(`topology up in ${Date.now() - started} ms: nginx ${lb} -> ${nodes.join(', ')}`)

  // -- accounts: a token from whichever node signed it is accepted by both
  const email = `lecturer-${randomBytes(4).toString('hex')}@example.org`
  const password = 'correct horse battery staple'
  const json = { 'content-type': 'application/json' }
  const reg = await getJson(`${lb}/api/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ email, password, name: 'Lecturer' }) })
  t.equal(reg.status, 201, 'register through nginx', { body: reg.body })
  const login = await getJson(`${lb}/api/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ email, password }) })
  t.equal(login.status, 200, 'log in through nginx', { body: login.body })
  const auth = { authorization: `Bearer ${login.body.token as string}` }
  for (const n of nodes) {
    const me = await getJson(`${n}/api/auth/me`, { headers: auth })
    t.equal(me.status, 200, `${n} accepts the login token`, { body: me.body })
    t.equal(me.body.user?.email, email)
  }

  // -- upload through nginx; only the worker process transcodes (both nodes run WORKER=off)
  const word = `photosynthesis${randomBytes(3).toString('hex')}`
  const clip = await readFile(await makeClip({ seconds: 3, width: 320, height: 180 }, t))
  const form = multipartBody([
    { name: 'title', value: `Scaled out ${word}` },
    { name: 'tags', value: 'biology' },
    { name: 'file', filename: 'lecture.mp4', content: clip }
  ])
  const upload = await getJson(`${lb}/api/videos`, { method: 'POST', headers: { ...form.headers, ...auth }, body: form.payload })
  t.equal(upload.status, 202, 'upload through nginx', { body: upload.body })
  const id = upload.body.id as string
  t.match(id, /^[0-9a-f]{20}$/)

  let video: any
  for (const deadline = Date.now() + READY_WITHIN_MS; ;) {
    const res = await getJson(`${lb}/api/videos/${id}`, { headers: auth })
    if (res.status !== 200) throw new Error(`GET /api/videos/${id}: ${res.status} ${JSON.stringify(res.body)}`)
    video = res.body
    if (video.status === 'ready' || video.status === 'failed') break
    if (Date.now() > deadline) break
    await sleep(250)
  }
  if (video.status !== 'ready') {
    t.fail(`the video is ${String(video.status)} (failureReason: ${String(video.failureReason)}) after ${READY_WITHIN_MS} ms\nworker:\n${worker.stdout()}\n${worker.stderr()}`)
    return
  }
  t.pass(`ready ${Date.now() - started} ms after start`)
  t.match(worker.stdout(), new RegExp(`"transcode job claimed".*"${id}"|"${id}".*"transcode job claimed"`), 'the worker process claimed the job')

  // -- HLS through nginx
  const masterUrl = `${lb}/hls/${id}/master.m3u8`
  const master = await getBytes(masterUrl)
  t.equal(master.status, 200, 'master playlist')
  t.match(master.headers.get('content-type'), /^application\/vnd\.apple\.mpegurl/)
  t.match(master.bytes.toString(), /^#EXTM3U/)
  const mediaUrl = firstUri(master.bytes.toString(), masterUrl)
  const media = await getBytes(mediaUrl)
  t.equal(media.status, 200, `media playlist ${mediaUrl}`)
  t.match(media.headers.get('content-type'), /^application\/vnd\.apple\.mpegurl/)
  t.match(media.bytes.toString(), /#EXT-X-ENDLIST/)
  const segmentUrl = firstUri(media.bytes.toString(), mediaUrl)
  const segment = await getBytes(segmentUrl)
  t.equal(segment.status, 200, `segment ${segmentUrl}`)
  t.equal(segment.headers.get('content-type'), 'video/mp2t')
  t.equal(segment.bytes[0], 0x47, 'an MPEG-TS segment')
  t.equal(segment.headers.get('x-cache-status'), 'MISS', 'the first fetch went to a node')
  // nginx files the response once it has all of it; the client may see the end a moment sooner.
  let cached: Awaited<ReturnType<typeof getBytes>> | undefined
  for (const deadline = Date.now() + 10_000; ;) {
    cached = await getBytes(segmentUrl)
    if (cached.headers.get('x-cache-status') === 'HIT' || Date.now() > deadline) break
    await sleep(100)
  }
  t.equal(cached?.headers.get('x-cache-status'), 'HIT', 'a later fetch comes from nginx\'s cache')
  t.equal(cached?.status, 200)
  t.ok(cached?.bytes.equals(segment.bytes), 'the cached segment is the same bytes')

  // -- a byte range of the progressive MP4: the same bytes through nginx and from each node
  const range = { range: 'bytes=1000-5095' }
  const viaLb = await getBytes(`${lb}/stream/${id}`, range)
  t.equal(viaLb.status, 206, 'range through nginx')
  t.equal(viaLb.headers.get('content-type'), 'video/mp4')
  t.equal(viaLb.bytes.length, 4096)
  t.match(viaLb.headers.get('content-range'), /^bytes 1000-5095\/\d+$/)
  for (const n of nodes) {
    const direct = await getBytes(`${n}/stream/${id}`, range)
    t.equal(direct.status, 206, `range from ${n}`)
    t.equal(direct.headers.get('content-range'), viaLb.headers.get('content-range'))
    t.ok(direct.bytes.equals(viaLb.bytes), `${n} answers the same bytes`)
  }

  // -- each node's search index picks up the worker's change (it polls the shared database)
  for (const n of nodes) {
    let hits: string[] = []
    for (const deadline = Date.now() + SEARCH_WITHIN_MS; ;) {
      const res = await getJson(`${n}/api/search?q=${word}`)
      if (res.status !== 200) throw new Error(`search on ${n}: ${res.status} ${JSON.stringify(res.body)}`)
      hits = (res.body.items as Array<{ id: string }>).map((i) => i.id)
      if (hits.includes(id) || Date.now() > deadline) break
      await sleep(250)
    }
    t.same(hits, [id], `${n} finds the video`)
  }

  // nginx sends Host without the port ($host); the test's direct requests carry it.
  for (const api of [api1, api2]) {
    t.match(api.stdout(), /"host":"127\.0\.0\.1"[,}].*"msg":"incoming request"/, `nginx sent ${api.name} some of the traffic`)
  }

  for (const n of nodes) {
    // A probe that misses Lectern's 2 s budget on a busy machine reads as down; ask again.
    let ready: Awaited<ReturnType<typeof getJson>>
    for (const deadline = Date.now() + 20_000; ;) {
      ready = await getJson(`${n}/health/ready`)
      if (ready.status === 200 || Date.now() > deadline) break
      await sleep(500)
    }
    t.equal(ready.status, 200, `${n} is ready`, { body: ready.body })
    t.match(ready.body.dependencies, { storage: 'ok', database: 'ok', cacheRedis: 'ok' })
  }

  // -- operating: every process's metrics, none through nginx; a short load of real viewers through nginx
  const metricsOf = async (base: string) => {
    const res = await fetch(`${base}/metrics`)
    const text = await res.text()
    const total = (name: string, label = '') => text.split('\n')
      .filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' ')).filter((l) => l.includes(label))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
    return { status: res.status, total }
  }
  t.equal((await fetch(`${lb}/metrics`)).status, 404, 'nginx does not expose /metrics')
  const workerMetrics = await metricsOf(`http://127.0.0.1:${workerMetricsPort}`)
  t.equal(workerMetrics.status, 200, 'the worker serves its metrics on METRICS_PORT')
  t.equal(workerMetrics.total('lectern_transcode_jobs_settled_total', 'outcome="done"'), 1, 'the worker counted the transcode it did')
  t.equal(workerMetrics.total('lectern_transcode_speed_ratio_count'), 1)
  const nodeMetrics = await Promise.all(nodes.map(metricsOf))
  for (const [i, m] of nodeMetrics.entries()) {
    t.equal(m.status, 200, `${nodes[i]} serves /metrics to loopback`)
    t.equal(m.total('lectern_cache_tier_state', 'tier="redis",state="ok"'), 1, 'with Redis up')
  }
  const load = await new Promise<{ status: number | null, stdout: string, stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/load/run.ts', '--url', lb, '--viewers', '6', '--duration', '5', '--uploads', '0', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('exit', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }) })
  })
  t.equal(load.status, 0, 'npm run load through nginx', { stderr: load.stderr.slice(-2000) })
  const loadLines = load.stdout.trim().split('\n')
  t.comment(loadLines.slice(0, -1).join('\n'))
  const loadResult = JSON.parse(loadLines[loadLines.length - 1]!)
  t.match(loadResult, { viewers: 6, errors: 0, stalledViewers: 0 }, 'six viewers through nginx: no error, no stall')
  const after = await Promise.all(nodes.map(metricsOf))
  const routed = (ms: typeof after) => ms.reduce((sum, m) => sum + m.total('lectern_http_requests_total'), 0)
  t.ok(routed(after) - routed(nodeMetrics) > 0, 'the nodes counted what nginx passed on')

  // nginx keeps a segment for 10 s, then asks a node again; while the video is public the node's
  // answer is a 304 and the copy lives on (REVALIDATED), so the bytes still come from nginx.
  let revalidated: Awaited<ReturnType<typeof getBytes>> | undefined
  const seen = new Set<string>()
  for (const deadline = Date.now() + 60_000; ;) {
    revalidated = await getBytes(segmentUrl)
    seen.add(String(revalidated.headers.get('x-cache-status')))
    if (revalidated.headers.get('x-cache-status') === 'REVALIDATED' || Date.now() > deadline) break
    await sleep(1000)
  }
  t.equal(revalidated?.headers.get('x-cache-status'), 'REVALIDATED', `an expired copy is revalidated, not fetched again (saw ${[...seen].join(', ')})`)
  t.ok(revalidated?.bytes.equals(segment.bytes), 'the revalidated copy is the same bytes')

  // -- adaptive bitrate through nginx: a viewer whose link carries 2 Mbit/s (it reads at that pace)
  // fetches the segment over and over; nginx answers from its cache, so the nodes see none of these
  // requests, and the estimate comes from nginx's access log, sent to both nodes over syslog.
  const session = await getBytes(masterUrl)
  const sid = /[?&]sid=([A-Za-z0-9_-]+)/.exec(session.bytes.toString())![1]!
  const sessionSegment = `${segmentUrl.split('?')[0]!}?sid=${sid}`
  t.ok(segment.bytes.length > 16 * 1024, `the segment (${segment.bytes.length} bytes) is large enough to time`)
  const fast = await readAtRate(sessionSegment, 8, 2_000_000)
  t.ok(fast.every((r) => r.cache === 'HIT'), `nginx answered every one from its cache (${fast.map((r) => r.cache).join(' ')})`)
  const etpOf = async (url: string): Promise<number> => {
    const res = await getBytes(url)
    const etp = /etp=(\d+)/.exec(res.headers.get('cmsd-dynamic') ?? '')?.[1]
    return etp === undefined ? NaN : Number(etp)
  }
  let etp = NaN
  for (const deadline = Date.now() + 10_000; ;) {
    etp = await etpOf(`${masterUrl}?sid=${sid}`)
    if (Math.abs(etp - 2000) / 2000 <= 0.25 || Date.now() > deadline) break
    await sleep(200)
  }
  t.ok(Math.abs(etp - 2000) / 2000 <= 0.25, `the session's estimate follows the 2 Mbit/s its viewer reads at: ${etp} kbit/s`)

  // -- made private through one node: every node stops playing it without a token and drops it
  // from search; with a playback token it plays through nginx, whose cache does not keep it
  const patch = await getJson(`${lb}/api/videos/${id}`, { method: 'PATCH', headers: { ...json, ...auth }, body: JSON.stringify({ visibility: 'private' }) })
  t.equal(patch.status, 200, 'made private through nginx', { body: patch.body })
  for (const n of nodes) {
    let status = 0
    let hits: string[] = []
    for (const deadline = Date.now() + SEARCH_WITHIN_MS; ;) {
      status = (await getBytes(`${n}/hls/${id}/master.m3u8`)).status
      const res = await getJson(`${n}/api/search?q=${word}`)
      hits = (res.body.items as Array<{ id: string }>).map((i) => i.id)
      if ((status !== 200 && hits.length === 0) || Date.now() > deadline) break
      await sleep(250)
    }
    t.equal(status, 404, `${n} answers the private master playlist without a token as a missing one`)
    t.same(hits, [], `${n} no longer finds the private video`)
  }
  // The copy nginx kept while the video was public stops being served once it expires.
  let tokenless: Awaited<ReturnType<typeof getBytes>> | undefined
  for (const deadline = Date.now() + 60_000; ;) {
    tokenless = await getBytes(segmentUrl)
    if (tokenless.status !== 200 || Date.now() > deadline) break
    await sleep(500)
  }
  t.equal(tokenless?.status, 404, 'nginx stops serving its cached segment of a video made private')
  const ownerFetch = await getBytes(segmentUrl, auth)
  t.equal(ownerFetch.status, 200, 'the owner still fetches it with their bearer token')
  t.not(ownerFetch.headers.get('x-cache-status'), 'HIT')
  t.equal((await getBytes(segmentUrl)).status, 404, 'and that answer was not kept for others')

  // -- access control through nginx: a private video is answered exactly as a missing one, and a
  // playback token stops working on both nodes within a second of a visibility change
  const missingId = id.replace(/^./, (c) => (c === '0' ? '1' : '0'))
  const asMissing = async (base: string, path: (v: string) => string) => {
    const [p, m] = await Promise.all([getBytes(`${base}${path(id)}`), getBytes(`${base}${path(missingId)}`)])
    return { p: [p.status, p.headers.get('content-type'), p.bytes.toString().replaceAll(id, '<id>')], m: [m.status, m.headers.get('content-type'), m.bytes.toString().replaceAll(missingId, '<id>')] }
  }
  for (const path of [(v: string) => `/hls/${v}/master.m3u8`, (v: string) => `${new URL(segmentUrl).pathname.replace(id, v)}`, (v: string) => `/stream/${v}`]) {
    const { p, m } = await asMissing(lb, path)
    t.same(p, m, `through nginx, ${path('<id>')} of a private video is answered as a missing one`)
    t.equal(p[0], 404)
  }
  const early = await getJson(`${lb}/api/videos/${id}/playback`, { headers: auth })
  const earlyUrl = (base: string) => new URL(early.body.streamUrl as string, base).href
  for (const base of [lb, ...nodes]) t.equal((await getBytes(earlyUrl(base), { range: 'bytes=0-9' })).status, 206, `${base} plays the token`)
  // Those plays count views ($inc, not awaited); FerretDB 1.x applies concurrent updates of one
  // document non-atomically, so a view counted during the PATCH could write the old epoch back.
  await sleep(500)
  const flipped = await getJson(`${lb}/api/videos/${id}`, { method: 'PATCH', headers: { ...json, ...auth }, body: JSON.stringify({ visibility: 'unlisted' }) })
  t.equal(flipped.status, 200)
  const flippedAt = Date.now()
  for (;;) {
    const statuses = await Promise.all([lb, ...nodes].map(async (base) => (await getBytes(earlyUrl(base), { range: 'bytes=0-9' })).status))
    if (statuses.every((s) => s === 404)) break
    if (Date.now() - flippedAt > 3000) {
      const fresh = await getJson(`${lb}/api/videos/${id}/playback`, { headers: auth })
      t.fail(`the earlier token still plays 3 s after the change: ${statuses.join()} (${early.body.streamUrl as string}; now ${fresh.body.streamUrl as string})`)
      break
    }
    await sleep(50)
  }
  t.ok(Date.now() - flippedAt <= 1500, `the earlier token is refused on both nodes and through nginx ${Date.now() - flippedAt} ms after the change`)
  t.equal((await getJson(`${lb}/api/videos/${id}`, { method: 'PATCH', headers: { ...json, ...auth }, body: JSON.stringify({ visibility: 'private' }) })).status, 200, 'private again')

  const playback = await getJson(`${lb}/api/videos/${id}/playback`, { headers: auth })
  t.equal(playback.status, 200, 'a playback token through nginx', { body: playback.body })
  const privateMasterUrl = new URL(playback.body.hlsUrl as string, lb).href
  const privateMaster = await getBytes(privateMasterUrl)
  t.equal(privateMaster.status, 200, 'the private master plays with the token')
  const privateMediaUrl = firstUri(privateMaster.bytes.toString(), privateMasterUrl)
  t.match(privateMediaUrl, /[?&]token=/, 'the playlist carries the token on')
  const privateMedia = await getBytes(privateMediaUrl)
  t.equal(privateMedia.status, 200)
  const privateSegmentUrl = firstUri(privateMedia.bytes.toString(), privateMediaUrl)
  t.match(privateSegmentUrl, /[?&]token=/)
  for (const attempt of [1, 2]) {
    const res = await getBytes(privateSegmentUrl)
    t.equal(res.status, 200, `private segment with the token, fetch ${attempt}`)
    t.ok(res.bytes.equals(segment.bytes), 'the same segment bytes')
    t.match(res.headers.get('cache-control'), /^private/)
    t.not(res.headers.get('x-cache-status'), 'HIT', 'nginx keeps no copy of a per-viewer answer')
  }

  // -- a resumable (tus) upload whose first half goes to one node and second half to the other:
  // the first half through nginx until it lands on api1 (nginx picks the node), the second half
  // through nginx once api1 has stopped (below), so api2 goes on from the offset in S3.
  const tus = { 'tus-resumable': '1.0.0', ...auth }
  const half = Math.floor(clip.length / 2)
  let uploadUrl = ''
  for (let attempt = 1; uploadUrl === ''; attempt++) {
    const created = await fetch(`${lb}/api/uploads`, {
      method: 'POST',
      headers: { ...tus, 'upload-length': String(clip.length), 'upload-metadata': `title ${Buffer.from('Resumed across nodes').toString('base64')},filename ${Buffer.from('lecture.mp4').toString('base64')}` }
    })
    t.equal(created.status, 201, `tus upload created through nginx (attempt ${attempt})`)
    const location = created.headers.get('location') ?? ''
    t.match(location, new RegExp(`^${lb}/api/uploads/[0-9a-f]{20}$`), 'its Location is on nginx\'s host and port (X-Forwarded-Host)')
    const first = await fetch(location, { method: 'PATCH', headers: { ...tus, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: clip.subarray(0, half) })
    t.equal(first.status, 204, 'the first half through nginx')
    const patched = new RegExp(`"method":"PATCH","url":"/api/uploads/${location.split('/').pop()!}"`)
    if (patched.test(api1.stdout())) {
      uploadUrl = location
    } else {
      t.equal((await fetch(location, { method: 'DELETE', headers: tus })).status, 204, 'it went to api2: cancelled, and tried again')
      if (attempt === 12) throw new Error('nginx never sent the first half to api1')
    }
  }
  const uploadId = uploadUrl.split('/').pop()!

  // and follows its viewer down to 500 kbit/s (token requests pass nginx's cache, and are timed
  // from its log all the same)
  api1.signal('SIGTERM')
  t.equal(await Promise.race([api1.exited, deadlineOf(STOP_WITHIN_MS)]), 0, 'api1 stops')
  const tokenQuery = new URL(privateMasterUrl).searchParams.get('token')!
  const continued = await etpOf(`${lb}/hls/${id}/master.m3u8?token=${encodeURIComponent(tokenQuery)}&sid=${sid}`)
  t.ok(Math.abs(continued - etp) / etp <= 0.1, `api2 continues the session: ${continued} kbit/s (it was ${etp})`)
  const privateSessionSegment = `${privateSegmentUrl.split('?')[0]!}?token=${encodeURIComponent(tokenQuery)}&sid=${sid}`
  await readAtRate(privateSessionSegment, 8, 500_000)
  let slower = NaN
  for (const deadline = Date.now() + 10_000; ;) {
    slower = await etpOf(`${lb}/hls/${id}/master.m3u8?token=${encodeURIComponent(tokenQuery)}&sid=${sid}`)
    if (Math.abs(slower - 500) / 500 <= 0.25 || Date.now() > deadline) break
    await sleep(200)
  }
  t.ok(Math.abs(slower - 500) / 500 <= 0.25, `and follows its viewer down to 500 kbit/s: ${slower} kbit/s`)

  // -- the tus upload's second half, with api1 gone: api2 takes it from the offset in S3
  const resumedHead = await fetch(uploadUrl, { method: 'HEAD', headers: tus })
  t.equal(resumedHead.headers.get('upload-offset'), String(half), 'api2 knows the offset api1 left')
  const secondHalf = await fetch(uploadUrl, { method: 'PATCH', headers: { ...tus, 'upload-offset': String(half), 'content-type': 'application/offset+octet-stream' }, body: clip.subarray(half) })
  t.equal(secondHalf.status, 204, 'the second half through nginx')
  t.match(api2.stdout(), new RegExp(`"method":"PATCH","url":"/api/uploads/${uploadId}"`), 'and api2 took it')
  const resumedVideo = await getJson(`${lb}/api/videos/${uploadId}`, { headers: auth })
  t.match(resumedVideo.body, { id: uploadId, originalSize: clip.length, originalName: 'lecture.mp4' }, 'the upload is a video')
  const bucket = new S3ObjectStore({ config: loadConfig({ ...s3.env, S3_REGION: 'us-east-1' }).s3! })
  const originalBytes: Buffer[] = []
  for await (const chunk of await bucket.get(`originals/${uploadId}`)) originalBytes.push(chunk as Buffer)
  await bucket.close()
  t.ok(Buffer.concat(originalBytes).equals(clip), 'whose original is byte-identical')

  nginx.signal('SIGQUIT')
  t.equal(await Promise.race([nginx.exited, deadlineOf(STOP_WITHIN_MS)]), 0, 'nginx quit')
  for (const p of [api2, worker]) p.signal('SIGTERM')
  for (const p of [api2, worker]) {
    const code = await Promise.race([p.exited, deadlineOf(STOP_WITHIN_MS)])
    t.equal(code, 0, `${p.name} exits 0 on SIGTERM${code === 0 ? '' : `\n${p.stdout().slice(-4000)}\n${p.stderr()}`}`)
  }
  t.comment(`the whole scenario took ${Date.now() - started} ms`)
})
