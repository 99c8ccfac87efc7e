import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { videoKeys } from '../../src/db/documents.js'
import { formatBenchResult, type BenchResult } from './bench-result.js'
import { cpuTicks, fastPathAnswers, freePort, hasWrk, medianInterval, progress, sleep, waitForHttp } from './bench-process.js'
import { writeBenchVideo } from './bench-video.js'

// Lectern's delivery against nginx (sendfile, one worker) and @fastify/static on the same files,
// and an uncached range against a plain fs.createReadStream pipe. Every server and every load
// generator runs in a process of its own; wrk (when installed) and autocannon measure each case.

const execFileAsync = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const projectRoot = resolve(here, '../..')
const KiB = 1024
const MiB = 1024 * KiB
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const WARMUP_SECONDS = 2
/** Only scenarios whose name contains this (e.g. BENCH_ONLY=uncached). */
const ONLY = process.env.BENCH_ONLY
const CONNECTIONS = 16
const PROGRESSIVE_BYTES = 256 * MiB
const RANGE_BYTES = 1 * MiB

/** Starts a process that prints `listening <port>`, and resolves with the port. */
function listeningPort (child: ChildProcess, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening (\d+)/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)))
  })
}

interface Measurement {
  reqPerSec: number
  bytesPerSec: number
  p99Ms: number
  errors: number
  /** Lectern's own CPU time (user + system, from /proc) per answered request, microseconds */
  cpuUsPerReq?: number
}

/** A process's CPU seconds so far (utime + stime of /proc/<pid>/stat, in clock ticks of 1/100 s). */
async function cpuSeconds (pid: number): Promise<number> {
  const { user, system } = await cpuTicks(pid)
  return (user + system) / 100
}

/** CPU seconds so far of a process and its children (nginx's master and its worker). */
async function treeCpuSeconds (pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  let total = await cpuSeconds(pid)
  for (const child of children.split(' ').filter((c) => c !== '')) total += await cpuSeconds(Number(child)).catch(() => 0)
  return total
}

interface Job {
  url: string
  /** body bytes per answer, for throughput from req/s (both tools alike) */
  bodyBytes: number
  headers?: Record<string, string>
  randomRange?: { blockSize: number, blocks: number }
  /** run length; SECONDS unless given */
  seconds?: number
}

async function runAutocannon (job: Job): Promise<Measurement> {
  const { stdout } = await execFileAsync(process.execPath, [join(here, 'autocannon-child.mjs'), JSON.stringify({
    url: job.url, connections: CONNECTIONS, seconds: job.seconds ?? SECONDS, headers: job.headers, randomRange: job.randomRange
  })], { cwd: projectRoot, timeout: (SECONDS + 30) * 1000 })
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as { reqPerSec: number, p99Ms: number, non2xx: number, errors: number }
  return { reqPerSec: r.reqPerSec, bytesPerSec: r.reqPerSec * job.bodyBytes, p99Ms: r.p99Ms, errors: r.non2xx + r.errors }
}

async function runWrk (job: Job, scriptDir: string): Promise<Measurement> {
  const lines = ['math.randomseed(os.time())']
  const headers = Object.entries(job.headers ?? {}).map(([k, v]) => `["${k}"] = "${v}"`)
  if (job.randomRange !== undefined) {
    const { blockSize, blocks } = job.randomRange
    lines.push('request = function()',
      `  local k = math.random(0, ${blocks - 1})`,
      `  return wrk.format(nil, nil, { ${[...headers, `["Range"] = "bytes=" .. (k * ${blockSize}) .. "-" .. ((k + 1) * ${blockSize} - 1)`].join(', ')} })`,
      'end')
  } else {
    for (const [k, v] of Object.entries(job.headers ?? {})) lines.push(`wrk.headers["${k}"] = "${v}"`)
  }
  const script = join(scriptDir, `wrk-${Math.random().toString(36).slice(2)}.lua`)
  await writeFile(script, lines.join('\n') + '\n')
  const { stdout } = await execFileAsync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${job.seconds ?? SECONDS}s`, '--latency', '-s', script, job.url], { timeout: (SECONDS + 30) * 1000 })
  const reqPerSec = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1])
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(stdout)
  const p99Ms = p99 === null ? NaN : Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
  const errors = non2xx + (socketErrors === null ? 0 : socketErrors.slice(1).reduce((a, b) => a + Number(b), 0))
  return { reqPerSec, bytesPerSec: reqPerSec * job.bodyBytes, p99Ms, errors }
}

async function checkBytes (name: string, url: string, expected: Buffer, range?: { start: number, end: number }): Promise<void> {
  const res = await fetch(url, range === undefined ? {} : { headers: { range: `bytes=${range.start}-${range.end}` } })
  const body = Buffer.from(await res.arrayBuffer())
  const want = range === undefined ? expected : expected.subarray(range.start, range.end + 1)
  if (!body.equals(want)) throw new Error(`${name} answered ${url} with ${res.status} and ${body.length} bytes that differ from the file`)
}

function nginxConf (dir: string, root: string, port: number): string {
  // Started as root, nginx would drop its worker to "nobody", which cannot read our temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `${user}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  types { video/mp2t ts; video/mp4 mp4; }
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
  }
}
`
}

export async function run (): Promise<BenchResult> {
  const work = await mkdtemp(join(tmpdir(), 'lectern-bench-delivery-'))
  const children: ChildProcess[] = []
  const start = (command: string, args: string[], env: Record<string, string> = {}): ChildProcess => {
    const child = spawn(command, args, { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stderr!.on('data', (d: Buffer) => { if (process.env.BENCH_VERBOSE !== undefined) process.stderr.write(d) })
    children.push(child)
    return child
  }
  try {
    // -- the files: a 1 MiB and a 64 KiB segment, and a progressive file for uncached ranges
    progress(`writing the files (${PROGRESSIVE_BYTES / MiB} MiB progressive file)`)
    const dataDir = join(work, 'data')
    const seg1m = randomBytes(MiB)
    const seg64k = randomBytes(64 * KiB)
    const bigPath = join(work, 'progressive.bin')
    await writeFile(bigPath, randomBytes(PROGRESSIVE_BYTES))
    const { id, version } = await writeBenchVideo(dataDir, { r1m: seg1m, r64k: seg64k }, bigPath)
    const objects = join(dataDir, 'objects')
    const filePath = (key: string) => '/' + key

    // -- the servers, each in its own process
    progress('starting nginx, @fastify/static, a createReadStream pipe server and Lectern')
    // The embedded database serves one process at a time, so the two Lectern configurations
    // (default cache; an L1 too small to keep a chunk) run one after the other.
    // Lectern as `npm start` runs it: tsc's build (a TypeScript loader such as tsx wraps every
    // closure it creates in a defineProperty call to keep its name, which costs the hot path).
    await execFileAsync(process.execPath, ['scripts/build-if-needed.mjs'], { cwd: projectRoot })
    const startLectern = async (name: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess, port: number }> => {
      const port = env.PORT !== undefined ? Number(env.PORT) : await freePort()
      const child = start(process.execPath, ['dist/src/server.js'], { DATA_DIR: dataDir, HOST: '127.0.0.1', LOG_LEVEL: 'warn', WORKER: 'off', ...env, PORT: String(port) })
      await waitForHttp(`http://127.0.0.1:${port}/health/live`, child, name)
      return { child, port }
    }
    const stop = async (child: ChildProcess): Promise<void> => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    const nginxPort = await freePort()
    const nginxDir = join(work, 'nginx')
    await mkdir(nginxDir)
    await writeFile(join(nginxDir, 'nginx.conf'), nginxConf(nginxDir, objects, nginxPort))
    const nginx = start('nginx', ['-c', join(nginxDir, 'nginx.conf'), '-p', nginxDir, '-e', join(nginxDir, 'error.log')])
    const reference = join(here, 'delivery-reference-server.mjs')
    const staticServer = start(process.execPath, [reference, 'static', objects])
    const staticPort = await listeningPort(staticServer, '@fastify/static')
    const pipeServer = start(process.execPath, [reference, 'pipe', objects])
    const pipePort = await listeningPort(pipeServer, 'createReadStream pipe')
    const segmentPaths = [filePath(videoKeys.segment(id, version, 'r1m', 'segment-00000.ts')), filePath(videoKeys.segment(id, version, 'r64k', 'segment-00000.ts'))]
    const bufferServer = start(process.execPath, [reference, 'buffer', objects, ...segmentPaths])
    const bufferPort = await listeningPort(bufferServer, 'node:http Buffer')
    const at = (port: number) => `http://127.0.0.1:${port}`
    await waitForHttp(`${at(nginxPort)}/`, nginx, 'nginx')
    // One Lectern at a time, always on this port, restarted when a scenario needs another cache size.
    const lecternPort = await freePort()
    let lectern = await startLectern('Lectern', { PORT: String(lecternPort) })
    let lecternCache = 'default'

    const urls = {
      lectern1m: `${at(lecternPort)}/hls/${id}/r1m/segment-00000.ts`,
      lectern64k: `${at(lecternPort)}/hls/${id}/r64k/segment-00000.ts`,
      lecternStream: `${at(lecternPort)}/stream/${id}`,
      file1m: filePath(videoKeys.segment(id, version, 'r1m', 'segment-00000.ts')),
      file64k: filePath(videoKeys.segment(id, version, 'r64k', 'segment-00000.ts')),
      fileBig: filePath(videoKeys.progressive(id, version))
    }

    // -- every server answers the same bytes (this also fills Lectern's cache with both segments)
    const big = await import('node:fs/promises').then((fs) => fs.readFile(bigPath))
    const someRange = { start: 7 * RANGE_BYTES, end: 8 * RANGE_BYTES - 1 }
    await checkBytes('node:http Buffer', at(bufferPort) + urls.file1m, seg1m)
    await checkBytes('node:http Buffer', at(bufferPort) + urls.file64k, seg64k)
    for (const [name, port] of [['nginx', nginxPort], ['@fastify/static', staticPort], ['pipe', pipePort]] as const) {
      await checkBytes(name, at(port) + urls.file1m, seg1m)
      await checkBytes(name, at(port) + urls.file64k, seg64k)
      await checkBytes(name, at(port) + urls.fileBig, big, someRange)
    }
    await checkBytes('Lectern', urls.lectern1m, seg1m)
    await checkBytes('Lectern', urls.lectern64k, seg64k)

    const randomRange = { blockSize: RANGE_BYTES, blocks: PROGRESSIVE_BYTES / RANGE_BYTES }
    const cases: Array<{ scenario: string, server: string, job: Job }> = [
      { scenario: 'cached 1 MiB segment', server: 'Lectern', job: { url: urls.lectern1m, bodyBytes: MiB } },
      { scenario: 'cached 1 MiB segment', server: 'nginx', job: { url: at(nginxPort) + urls.file1m, bodyBytes: MiB } },
      { scenario: 'cached 1 MiB segment', server: '@fastify/static', job: { url: at(staticPort) + urls.file1m, bodyBytes: MiB } },
      { scenario: 'cached 1 MiB segment', server: 'node:http Buffer', job: { url: at(bufferPort) + urls.file1m, bodyBytes: MiB } },
      { scenario: 'cached 64 KiB segment', server: 'Lectern', job: { url: urls.lectern64k, bodyBytes: 64 * KiB } },
      { scenario: 'cached 64 KiB segment', server: 'nginx', job: { url: at(nginxPort) + urls.file64k, bodyBytes: 64 * KiB } },
      { scenario: 'cached 64 KiB segment', server: '@fastify/static', job: { url: at(staticPort) + urls.file64k, bodyBytes: 64 * KiB } },
      { scenario: 'cached 64 KiB segment', server: 'node:http Buffer', job: { url: at(bufferPort) + urls.file64k, bodyBytes: 64 * KiB } },
      // The same cached segment with a viewing session: each answer is also a throughput sample.
      { scenario: 'cached 64 KiB segment, session sampled', server: 'Lectern', job: { url: urls.lectern64k + '?sid=benchSession00000000001', bodyBytes: 64 * KiB } },
      { scenario: 'cached 64 KiB segment, session sampled', server: 'Lectern, no session', job: { url: urls.lectern64k, bodyBytes: 64 * KiB } },
      { scenario: 'cached 1 MiB segment, session sampled', server: 'Lectern', job: { url: urls.lectern1m + '?sid=benchSession00000000001', bodyBytes: MiB } },
      { scenario: 'cached 1 MiB segment, session sampled', server: 'Lectern, no session', job: { url: urls.lectern1m, bodyBytes: MiB } },
      { scenario: 'uncached 1 MiB range', server: 'Lectern', job: { url: urls.lecternStream, bodyBytes: RANGE_BYTES, randomRange } },
      { scenario: 'uncached 1 MiB range', server: 'createReadStream', job: { url: at(pipePort) + urls.fileBig, bodyBytes: RANGE_BYTES, randomRange } },
      { scenario: 'uncached 1 MiB range', server: 'nginx', job: { url: at(nginxPort) + urls.fileBig, bodyBytes: RANGE_BYTES, randomRange } },
      { scenario: 'uncached 1 MiB range', server: '@fastify/static', job: { url: at(staticPort) + urls.fileBig, bodyBytes: RANGE_BYTES, randomRange } },
      { scenario: 'cold 1 MiB range, chunk fills', server: 'Lectern', job: { url: urls.lecternStream, bodyBytes: RANGE_BYTES, randomRange } },
      { scenario: 'cold 1 MiB range, chunk fills', server: 'createReadStream', job: { url: at(pipePort) + urls.fileBig, bodyBytes: RANGE_BYTES, randomRange } }
    ]
    // CACHE_MEMORY_MB per scenario: 1 MiB keeps no chunk (misses are piped from storage after one
    // fill shows that); 16 MiB keeps 16 of the file's 256 chunks, so ~94% of random ranges fill one.
    const cacheFor: Record<string, string> = { 'uncached 1 MiB range': '1', 'cold 1 MiB range, chunk fills': '16' }
    const tools: Array<['wrk' | 'autocannon', (job: Job) => Promise<Measurement>]> = []
    if (await hasWrk()) tools.push(['wrk', (job) => runWrk(job, work)])
    else progress('wrk is not installed: autocannon only')
    tools.push(['autocannon', runAutocannon])

    // Rounds interleave the servers of a scenario, so that load from anything else on the machine
    // falls on all of them alike; the median of the rounds is reported.
    const samples = new Map<string, Measurement[]>()
    // The fast path counts its answers with plain integers, read when /metrics is scraped: the
    // cached runs show the count agrees with what the load generator read, at full speed.
    const counted = new Map<string, number[]>()
    const scenarios = [...new Set(cases.map((c) => c.scenario))].filter((sc) => ONLY === undefined || sc.includes(ONLY))
    for (const scenario of scenarios) {
      const inScenario = cases.filter((c) => c.scenario === scenario)
      const wanted = cacheFor[scenario] ?? 'default'
      if (wanted !== lecternCache) {
        progress(`restarting Lectern with CACHE_MEMORY_MB=${wanted}`)
        await stop(lectern.child)
        lectern = await startLectern('Lectern', { PORT: String(lecternPort), ...(wanted === 'default' ? {} : { CACHE_MEMORY_MB: wanted }) })
        lecternCache = wanted
        await checkBytes('Lectern', urls.lecternStream, big, someRange)
      }
      // A fresh process answers slowly until the JIT has seen the hot path: warm every server first.
      for (const c of inScenario) {
        progress(`${scenario}: warming up ${c.server}`)
        await tools[0]![1]({ ...c.job, seconds: WARMUP_SECONDS })
      }
      for (let round = 1; round <= ROUNDS; round++) {
        // Every other round in the reverse order: no server always runs right after the same one.
        for (const c of round % 2 === 1 ? inScenario : [...inScenario].reverse()) {
          for (const [tool, measure] of tools) {
            progress(`${scenario}: ${c.server}, ${tool} -c${CONNECTIONS} ${SECONDS}s (round ${round}/${ROUNDS})`)
            const k = `${scenario}|${c.server}|${tool}`
            // Every server's own CPU (nginx: master and worker), the load generator's excluded.
            const pid = c.server.startsWith('Lectern') ? lectern.child.pid : c.server === 'nginx' ? nginx.pid : c.server === '@fastify/static' ? staticServer.pid : c.server === 'node:http Buffer' ? bufferServer.pid : pipeServer.pid
            const countsFastPath = c.server === 'Lectern' && scenario === 'cached 64 KiB segment'
            const answersBefore = countsFastPath ? await fastPathAnswers(`http://127.0.0.1:${lecternPort}`) : 0
            const cpuBefore = pid === undefined ? 0 : await treeCpuSeconds(pid)
            const m = await measure(c.job)
            if (pid !== undefined && m.reqPerSec > 0) m.cpuUsPerReq = (await treeCpuSeconds(pid) - cpuBefore) * 1e6 / (m.reqPerSec * (c.job.seconds ?? SECONDS))
            if (countsFastPath && m.reqPerSec > 0) counted.set(tool, [...(counted.get(tool) ?? []), (await fastPathAnswers(`http://127.0.0.1:${lecternPort}`) - answersBefore) / (m.reqPerSec * (c.job.seconds ?? SECONDS))])
            samples.set(k, [...(samples.get(k) ?? []), m])
          }
        }
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const results = new Map<string, Measurement>()
    const rows: Array<Record<string, string | number>> = []
    for (const c of cases) {
      for (const [tool] of tools) {
        const ms = samples.get(`${c.scenario}|${c.server}|${tool}`)
        if (ms === undefined) continue
        const m: Measurement = {
          reqPerSec: median(ms.map((x) => x.reqPerSec)),
          bytesPerSec: median(ms.map((x) => x.bytesPerSec)),
          p99Ms: median(ms.map((x) => x.p99Ms)),
          errors: ms.reduce((a, x) => a + x.errors, 0),
          cpuUsPerReq: median(ms.map((x) => x.cpuUsPerReq ?? NaN))
        }
        results.set(`${c.scenario}|${c.server}|${tool}`, m)
        rows.push({
          scenario: c.scenario,
          server: c.server,
          tool,
          'req/s': Math.round(m.reqPerSec),
          'MiB/s': Math.round(m.bytesPerSec / MiB),
          'p99 ms': Math.round(m.p99Ms * 100) / 100,
          'server CPU µs/req': Number.isNaN(m.cpuUsPerReq) ? '' : Math.round(m.cpuUsPerReq! * 10) / 10,
          // CPU seconds per GB served: µs per answer over the bytes of an answer.
          'server CPU s/GB': Number.isNaN(m.cpuUsPerReq) || c.job.bodyBytes === undefined ? '' : Math.round(m.cpuUsPerReq! * 1e3 / c.job.bodyBytes * 100) / 100,
          errors: m.errors
        })
      }
    }

    const lines: string[] = []
    const ratio = (scenario: string, a: string, b: string, tool: string, metric: 'reqPerSec' | 'bytesPerSec') => {
      const x = results.get(`${scenario}|${a}|${tool}`)
      const y = results.get(`${scenario}|${b}|${tool}`)
      return x === undefined || y === undefined || y[metric] === 0 ? NaN : x[metric] / y[metric]
    }
    const fmt = (n: number) => n.toFixed(2) + 'x'
    // The ratio in each interleaved round (round i of a against round i of b): its spread.
    const spread = (scenario: string, a: string, b: string, tool: string, metric: 'reqPerSec' | 'bytesPerSec'): string => {
      const xs = samples.get(`${scenario}|${a}|${tool}`) ?? []
      const ys = samples.get(`${scenario}|${b}|${tool}`) ?? []
      const rs = xs.map((x, i) => x[metric] / (ys[i]?.[metric] ?? NaN)).filter((r) => Number.isFinite(r))
      return rs.length === 0 ? '' : `, rounds ${fmt(Math.min(...rs))}-${fmt(Math.max(...rs))}`
    }
    const targets: Array<{ scenario: string, metric: 'reqPerSec' | 'bytesPerSec', label: string, reference: string, target: number }> = [
      { scenario: 'cached 1 MiB segment', metric: 'bytesPerSec', label: 'throughput', reference: 'nginx', target: 1.5 },
      { scenario: 'cached 64 KiB segment', metric: 'reqPerSec', label: 'req/s', reference: 'nginx', target: 0.8 },
      { scenario: 'cached 64 KiB segment', metric: 'reqPerSec', label: 'req/s', reference: 'node:http Buffer', target: 0.95 },
      { scenario: 'cached 64 KiB segment, session sampled', metric: 'reqPerSec', label: 'req/s', reference: 'Lectern, no session', target: 0.95 },
      { scenario: 'cached 1 MiB segment, session sampled', metric: 'reqPerSec', label: 'req/s', reference: 'Lectern, no session', target: 0.95 },
      { scenario: 'uncached 1 MiB range', metric: 'bytesPerSec', label: 'throughput', reference: 'createReadStream', target: 1 },
      { scenario: 'cold 1 MiB range, chunk fills', metric: 'bytesPerSec', label: 'throughput', reference: 'createReadStream', target: 1 }
    ]
    // What sampling costs the server, whatever the load generator manages: CPU per request, by round.
    for (const [tool] of tools) {
      for (const scenario of ['cached 64 KiB segment, session sampled', 'cached 1 MiB segment, session sampled']) {
        const xs = samples.get(`${scenario}|Lectern|${tool}`) ?? []
        const ys = samples.get(`${scenario}|Lectern, no session|${tool}`) ?? []
        const rs = xs.map((x, i) => (x.cpuUsPerReq ?? NaN) / (ys[i]?.cpuUsPerReq ?? NaN)).filter((r) => Number.isFinite(r))
        if (rs.length === 0) continue
        const mid = [...rs].sort((a, b) => a - b)[Math.floor(rs.length / 2)]!
        lines.push(`${tool}: ${scenario}, server CPU per request with/without the session ${fmt(mid)}, rounds ${fmt(Math.min(...rs))}-${fmt(Math.max(...rs))} (target <= 1.05x: ${mid <= 1.05 ? 'met' : 'NOT met'})`)
        // req/s of the two in the same round, paired: how well the rounds pin the median down.
        const paired = xs.map((x, i) => x.reqPerSec / (ys[i]?.reqPerSec ?? NaN)).filter((r) => Number.isFinite(r))
        if (paired.length >= 5) {
          const { low, high } = medianInterval(paired)
          lines.push(`${tool}: ${scenario}, req/s with/without the session in the same round: median ${fmt(median(paired))}, 90% bootstrap interval of the median ${fmt(low)}-${fmt(high)} over ${paired.length} rounds`)
        }
      }
    }
    for (const [tool] of tools) {
      for (const goal of targets) {
        const r = ratio(goal.scenario, 'Lectern', goal.reference, tool, goal.metric)
        if (Number.isNaN(r)) continue
        const others = ['nginx', 'node:http Buffer', '@fastify/static'].filter((o) => o !== goal.reference)
          .map((o) => [o, ratio(goal.scenario, 'Lectern', o, tool, goal.metric)] as const)
          .filter(([, x]) => !Number.isNaN(x))
          .map(([o, x]) => `, Lectern/${o} ${fmt(x)}`)
        lines.push(`${tool}: ${goal.scenario}, Lectern/${goal.reference} ${goal.label} ${fmt(r)}${spread(goal.scenario, 'Lectern', goal.reference, tool, goal.metric)} ` +
          `(target >= ${goal.target}x: ${r >= goal.target ? 'met' : 'NOT met'})${others.join('')}`)
      }
    }
    // CPU per byte against nginx's in the same rounds (each server's own /proc CPU time): what
    // serving costs the machine, whichever side the load generator bounds.
    for (const [tool] of tools) {
      for (const scenario of ['cached 1 MiB segment', 'cached 64 KiB segment']) {
        for (const reference of ['nginx', 'node:http Buffer']) {
          const xs = samples.get(`${scenario}|Lectern|${tool}`) ?? []
          const ys = samples.get(`${scenario}|${reference}|${tool}`) ?? []
          const rs = xs.map((x, i) => (x.cpuUsPerReq ?? NaN) / (ys[i]?.cpuUsPerReq ?? NaN)).filter((r) => Number.isFinite(r))
          if (rs.length === 0) continue
          const mid = [...rs].sort((a, b) => a - b)[Math.floor(rs.length / 2)]!
          lines.push(`${tool}: ${scenario}, server CPU per byte Lectern/${reference} ${fmt(mid)}, rounds ${fmt(Math.min(...rs))}-${fmt(Math.max(...rs))}`)
        }
      }
    }
    for (const [tool, rs] of counted) {
      lines.push(`${tool}: cached 64 KiB segment, fast-path answers counted in /metrics per request ${tool} read: ${rs.map((r) => fmt(r)).join(', ')} ` +
        '(plain integers on the fast path, read at scrape time; the throughput above is with them)')
    }
    lines.push(
      `setup: ${CONNECTIONS} connections, ${SECONDS} s per run, median of ${ROUNDS} interleaved rounds, load generator and each server in separate processes on ${(await import('node:os')).cpus().length} cores; ` +
        'Lectern at LOG_LEVEL=warn (no per-request log lines), nginx with access_log off, sendfile on, 1 worker',
      `"uncached": Lectern with CACHE_MEMORY_MB=1, which keeps no 1 MiB chunk, so misses are piped from storage; ` +
        `"cold": CACHE_MEMORY_MB=16, so most requests fill a chunk (one storage read, copied into the cache, sent on as it arrives); ` +
        `random aligned 1 MiB ranges of a ${PROGRESSIVE_BYTES / MiB} MiB file, the same for every server (all from the OS page cache)`
    )
    return { name: 'delivery: Lectern vs nginx, @fastify/static and createReadStream', rows, lines }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
    await sleep(300)
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    await rm(work, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run()
  process.stdout.write(formatBenchResult(result) + '\n')
}
