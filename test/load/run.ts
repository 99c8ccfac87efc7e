import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Tally, discover, get, percentile, playHls, type Kind, type Playable } from './hls-viewer.js'

// npm run load -- [--url <base>] [--viewers <n>] [--duration <s>] [--json] [--ramp]
// A load of real viewers: HLS players at the pace of playback (paced, with deadlines: a stall is a
// segment later than playback needs it), seekers in the progressive MP4 and searchers typing
// (autocannon, in a child process), and a few uploads. Without --url it starts Lectern on embedded
// defaults (a child process) with two generated videos uploaded and transcoded through its API.

const root = fileURLToPath(new URL('../..', import.meta.url))
const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    viewers: { type: 'string', default: '20' },
    duration: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
    ramp: { type: 'boolean', default: false },
    uploads: { type: 'string' },
    'max-viewers': { type: 'string', default: '2000' }
  }
})

function whole (name: string, value: string | undefined, min: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`load: --${name} must be a whole number >= ${min}, got "${value}"\n`)
    process.exit(2)
  }
  return n
}
const viewersArg = whole('viewers', values.viewers, 1)
const durationS = whole('duration', values.duration, 1)
const maxViewers = whole('max-viewers', values['max-viewers'], 1)
const say = (line: string) => process.stderr.write(line + '\n')

export interface LoadResult {
  viewers: number
  durationS: number
  requests: number
  errors: number
  stalledViewers: number
  heldViewers: number
  segmentLatencyMs: { p50: number | null, p99: number | null }
  latencyMs: Partial<Record<Kind, { p50: number | null, p99: number | null, count: number }>>
  throughputMBps: number
  bytes: number
  /** body bytes received by the paced viewers and uploads sent, by kind (ranges and searches: see autocannon's figures) */
  bytesByKind: Partial<Record<Kind, number>>
  errorSamples: string[]
}

async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

function ffmpeg (args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`)
}

function clip (dir: string, name: string, seconds: number, size: string): string {
  const path = join(dir, name)
  ffmpeg(['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ac', '2', '-t', String(seconds), path])
  return path
}

async function json (base: string, path: string, init: RequestInit = {}): Promise<{ status: number, body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(base + path, init)
  const text = await res.text()
  return { status: res.status, body: text === '' ? null : JSON.parse(text) }
}

async function account (base: string): Promise<string> {
  const email = `load-${randomBytes(4).toString('hex')}@example.org`
  const res = await json(base, '/api/auth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'load test password 1', name: 'Load test' }) })
  if (res.status === 202) throw new Error('could not register a load-test account: this server finishes sign-ups by mail; start it with SIGNUP_CONFIRMATION=off for a load test')
  if (res.status !== 201) throw new Error(`could not register a load-test account: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.token as string
}

async function upload (base: string, token: string, file: Buffer, title: string): Promise<{ status: number, id?: string }> {
  const form = new FormData()
  form.append('title', title)
  form.append('tags', 'load')
  form.append('file', new Blob([file], { type: 'video/mp4' }), 'clip.mp4')
  const res = await json(base, '/api/videos', { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, id: res.body?.id }
}

/** The Lectern this run started, if any (stopped at the end, or when interrupted). */
let local: ChildProcess | undefined

/** Lectern on embedded defaults in a child process, with two generated videos transcoded. */
async function startLocal (dir: string): Promise<{ base: string, child: ChildProcess }> {
  const port = await freePort()
  // As `npm start` runs it: tsc's build, made first if the sources are newer.
  execFileSync(process.execPath, ['scripts/build-if-needed.mjs'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    cwd: root,
    // Embedded defaults: none of the caller's store settings (S3_BUCKET, MONGODB_URL, REDIS_URL...) go through.
    // Sign-up at once (no confirmation mail): the run registers a second account for its uploads.
    env: { ...Object.fromEntries(['PATH', 'HOME', 'TMPDIR', 'LANG', 'FFMPEG_PATH', 'FFPROBE_PATH'].flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]]))), PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dir, 'data'), WORKER: 'inline', LOG_LEVEL: 'warn', SIGNUP_CONFIRMATION: 'off' },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  local = child
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error('Lectern exited during start-up')
    const up = await fetch(base + '/health/live').then((r) => r.ok, () => false)
    if (up) break
    if (i > 300) throw new Error('Lectern did not start within 30 s')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  say(`load: Lectern on embedded defaults at ${base} (DATA_DIR ${join(dir, 'data')}); generating and transcoding two 24 s videos`)
  const token = await account(base)
  const ids: string[] = []
  for (const [i, title] of ['Lecture on load one', 'Lecture on load two'].entries()) {
    const res = await upload(base, token, await readFile(clip(dir, `lecture-${i}.mp4`, 24, '1280x720')), title)
    if (res.status !== 202) throw new Error(`upload of a generated video failed: ${res.status}`)
    ids.push(res.id!)
  }
  for (const id of ids) {
    for (;;) {
      const v = await json(base, `/api/videos/${id}`, { headers: { authorization: `Bearer ${token}` } })
      if (v.body?.status === 'ready') break
      if (v.body?.status === 'failed') throw new Error(`transcode failed: ${v.body.failureReason}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
  // Search picks new videos up within about 2 s.
  for (let i = 0; i < 50 && (await discover(base)).length < ids.length; i++) await new Promise((resolve) => setTimeout(resolve, 200))
  return { base, child }
}

function mix (base: string, seconds: number, seekers: number, searchers: number, streams: Array<{ path: string, size: number }>, words: string[]): Promise<{ range: Summary | null, search: Summary | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'test/load/autocannon-mix.mjs'), JSON.stringify({ base, seconds, seekers, searchers, streams, words })], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`autocannon exited with ${code}`))
      else resolve(JSON.parse(out.trim().split('\n').pop()!))
    })
  })
}
interface Summary { requests: number, errors: number, bytes: number, p50Ms: number, p99Ms: number }

interface Target { base: string, videos: Playable[], streams: Array<{ path: string, size: number }>, words: string[], token: string | undefined, uploadClip: Buffer | undefined }

async function prepare (base: string, dir: string): Promise<Target> {
  const videos = await discover(base)
  if (videos.length === 0) throw new Error(`${base} has no public, ready video to play (found through /api/search)`)
  const agent = new http.Agent()
  const streams: Target['streams'] = []
  const words = new Set<string>()
  for (const v of videos) {
    const head = await get(base, `/stream/${v.id}`, agent, false, { range: 'bytes=0-0' })
    if (head.status === 206) {
      const size = await new Promise<number>((resolve) => {
        http.get(`${base}/stream/${v.id}`, { agent, headers: { range: 'bytes=0-0' } }, (res) => {
          res.resume()
          resolve(Number(/\/(\d+)$/.exec(String(res.headers['content-range']))?.[1] ?? 0))
        }).on('error', () => resolve(0))
      })
      if (size > 0) streams.push({ path: `/stream/${v.id}`, size })
    }
  }
  agent.destroy()
  const found = await json(base, '/api/search?limit=20')
  for (const item of found.body.items as Array<{ title: string }>) for (const w of item.title.toLowerCase().split(/\W+/)) if (w.length >= 3) words.add(w)
  let token: string | undefined
  let uploadClip: Buffer | undefined
  try {
    token = await account(base)
    uploadClip = await readFile(clip(dir, 'upload.mp4', 1, '160x90'))
  } catch (err) {
    say(`load: no uploads in this run: ${(err as Error).message}`)
  }
  return { base, videos, streams, words: [...words], token, uploadClip }
}

/** One run: `viewers` HLS viewers for `seconds`, with seekers, searchers and a few uploads beside them. */
async function runLoad (target: Target, viewers: number, seconds: number, uploads: number): Promise<LoadResult> {
  const tally = new Tally()
  const started = performance.now()
  const until = started + seconds * 1000
  const seekers = Math.ceil(viewers / 8)
  const searchers = Math.ceil(viewers / 10)
  const background = mix(target.base, seconds, seekers, searchers, target.streams, target.words)
  let stalled = 0
  let done = 0
  // Viewers join over the first second or so, as an audience does, not in one instant.
  const spread = Math.min(2000, seconds * 250)
  const players = Array.from({ length: viewers }, async (_, i) => {
    await new Promise((resolve) => setTimeout(resolve, spread * i / viewers))
    const r = await playHls(target.base, target.videos, i, until, tally)
    if (r.stalls > 0) stalled++
    done++
  })
  const uploading = (async () => {
    if (target.token === undefined || target.uploadClip === undefined) return
    for (let i = 0; i < uploads; i++) {
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000 * (i + 0.5) / uploads - (performance.now() - started)))
      const t0 = performance.now()
      const res = await upload(target.base, target.token, target.uploadClip, `Load upload ${i}`).catch((err: Error) => ({ status: 0, id: err.message }))
      tally.add('upload', performance.now() - t0, target.uploadClip.byteLength, res.status === 202, `status ${res.status}`)
    }
  })()
  const progress = setInterval(() => {
    const s = Math.round((performance.now() - started) / 1000)
    const p99 = percentile(tally.latencyMs.get('segment') ?? [], 99)
    process.stderr.write(`\rload: ${s}/${seconds} s  viewers ${viewers - done}/${viewers}  requests ${tally.requests}  errors ${tally.errors}  segment p99 ${p99 === null ? '-' : p99.toFixed(1)} ms   `)
  }, 1000)
  const [, , bg] = await Promise.all([Promise.all(players), uploading, background])
  clearInterval(progress)
  process.stderr.write('\n')
  for (const s of [bg.range, bg.search]) {
    if (s === null) continue
    tally.requests += s.requests
    tally.errors += s.errors
    tally.bytes += s.bytes
  }
  const elapsed = (performance.now() - started) / 1000
  const latencyMs: LoadResult['latencyMs'] = {}
  const ms = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10)
  for (const [kind, list] of tally.latencyMs) latencyMs[kind] = { p50: ms(percentile(list, 50)), p99: ms(percentile(list, 99)), count: list.length }
  if (bg.range !== null) latencyMs.range = { p50: bg.range.p50Ms, p99: bg.range.p99Ms, count: bg.range.requests }
  if (bg.search !== null) latencyMs.search = { p50: bg.search.p50Ms, p99: bg.search.p99Ms, count: bg.search.requests }
  const segments = tally.latencyMs.get('segment') ?? []
  return {
    viewers,
    durationS: seconds,
    requests: tally.requests,
    errors: tally.errors,
    stalledViewers: stalled,
    heldViewers: viewers - stalled,
    segmentLatencyMs: { p50: ms(percentile(segments, 50)), p99: ms(percentile(segments, 99)) },
    latencyMs,
    throughputMBps: Math.round(tally.bytes / elapsed / 1e6 * 100) / 100,
    bytes: tally.bytes,
    bytesByKind: Object.fromEntries(tally.bytesByKind),
    errorSamples: tally.errorSamples
  }
}

function report (r: LoadResult): string {
  const lines = [
    `viewers ${r.viewers} for ${r.durationS} s: ${r.requests} requests, ${r.errors} errors, ${r.throughputMBps} MB/s`,
    `held without a stall: ${r.heldViewers} of ${r.viewers} (stalled: ${r.stalledViewers})`,
    ...Object.entries(r.latencyMs).map(([kind, l]) => `  ${kind.padEnd(8)} ${String(l.count).padStart(7)} requests  p50 ${l.p50?.toFixed(1) ?? '-'} ms  p99 ${l.p99?.toFixed(1) ?? '-'} ms`),
    ...r.errorSamples.map((e) => `  error: ${e}`)
  ]
  return lines.join('\n')
}

const passes = (r: LoadResult) => r.stalledViewers === 0 && r.errors === 0 && (r.segmentLatencyMs.p99 ?? Infinity) < 1000

const dir = await mkdtemp(join(tmpdir(), 'lectern-load-'))
try {
  let base = values.url?.replace(/\/$/, '')
  if (base === undefined) {
    // Interrupted: the Lectern started here goes too.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        local?.kill('SIGTERM')
        rm(dir, { recursive: true, force: true }).finally(() => process.exit(130))
      })
    }
    base = (await startLocal(dir)).base
  }
  const target = await prepare(base, dir)
  say(`load: ${target.videos.length} videos, ${target.streams.length} progressive files, ${target.words.length} search words at ${base}; ${cpus().length} cores here`)
  if (!values.ramp) {
    const uploads = values.uploads === undefined ? Math.max(1, Math.round(viewersArg / 20)) : whole('uploads', values.uploads, 0)
    const result = await runLoad(target, viewersArg, durationS, uploads)
    process.stdout.write(report(result) + '\n')
    if (values.json) process.stdout.write(JSON.stringify(result) + '\n')
  } else {
    // Ramp: 1.5x more viewers per step until a step stalls a viewer, fails a request or has a
    // segment p99 of 1 s or more, then narrows the gap to the first step not held; the answer is
    // the most viewers held.
    const steps: LoadResult[] = []
    let best: LoadResult | undefined
    const step = async (n: number): Promise<boolean> => {
      const r = await runLoad(target, n, durationS, 0)
      steps.push(r)
      say(`ramp: ${n} viewers: ${passes(r) ? 'held' : 'NOT held'} (stalled ${r.stalledViewers}, errors ${r.errors}, segment p99 ${r.segmentLatencyMs.p99?.toFixed(1)} ms)`)
      if (passes(r) && (best === undefined || n > best.viewers)) best = r
      return passes(r)
    }
    let failed: number | undefined
    for (let n = viewersArg; n <= maxViewers; n = Math.max(n + 1, Math.round(n * 1.5))) {
      if (!await step(n)) {
        failed = n
        break
      }
    }
    // Then halve the gap between the last step held and the first not held, down to a tenth of it.
    let low = best?.viewers ?? 0
    while (failed !== undefined && low > 0 && failed - low > Math.max(1, low / 10)) {
      const mid = Math.round((low + failed) / 2)
      if (await step(mid)) low = mid
      else failed = mid
    }
    process.stdout.write(`most viewers held (no stall, no error, segment p99 < 1 s): ${best?.viewers ?? 'none'}\n`)
    if (best !== undefined) process.stdout.write(report(best) + '\n')
    if (values.json) process.stdout.write(JSON.stringify({ ...(best ?? steps[0]!), maxViewers: best?.viewers ?? 0, steps: steps.map((s) => ({ viewers: s.viewers, stalledViewers: s.stalledViewers, errors: s.errors, segmentLatencyMs: s.segmentLatencyMs })) }) + '\n')
  }
} finally {
  if (local !== undefined) {
    local.kill('SIGTERM')
    await new Promise((resolve) => local!.once('exit', resolve))
  }
  await rm(dir, { recursive: true, force: true })
}
