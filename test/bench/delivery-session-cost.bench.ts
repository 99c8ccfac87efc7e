import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { BenchResult } from './bench-result.js'
import { cpuTicks, fastPathAnswers, freePort, hasWrk, median, progress, sleep, waitForHttp } from './bench-process.js'
import { writeBenchVideo } from './bench-video.js'

// What recording a viewing session's throughput samples costs the delivery fast path, counted in
// instructions rather than timed. On these shared 2-core VMs, req/s of one run differs from the
// next by ±20% (see the delivery benchmark's round ranges), which hides a 5% cost. Callgrind counts
// the instructions the server's main thread executes in user space for a fixed number of
// requests, the same request with and without `?sid=`, in interleaved rounds. The kernel's share
// (copying the body into the socket) is the same for both and is not counted: the user-space share
// of the server's CPU per request, measured without valgrind, turns the instruction ratio into a
// share of the whole cost per request. The count per request does not depend on the load (under
// callgrind it is the same with one connection as with eight); how long those instructions take
// does, and with it the user share. Requests/s is a measure of a saturated server: the share that
// converts the count is the one measured at saturation, under wrk. A Node client cannot saturate
// the server (it parses every answer in JavaScript); the share under its light load is printed beside it.

const execFileAsync = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const projectRoot = resolve(here, '../..')
const KiB = 1024
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 5000)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3000)
const CONNECTIONS = 8
/** Seconds of each of the three wrk runs that measure the user/system split at saturation. */
const SATURATED_SECONDS = 5
const SID = 'benchSession00000000001'

const fmt = (x: number): string => x.toFixed(3)

async function has (command: string): Promise<boolean> {
  return await execFileAsync('sh', ['-c', `command -v ${command}`]).then(() => true, () => false)
}

/** The user-space share of `pid`'s CPU time while `load` runs. */
async function userShareDuring (pid: number, load: () => Promise<unknown>): Promise<number> {
  const before = await cpuTicks(pid)
  await load()
  const after = await cpuTicks(pid)
  return (after.user - before.user) / (after.user - before.user + after.system - before.system)
}

/** `url` under wrk: one thread, 16 keep-alive connections (the delivery benchmark's load), for `seconds`. */
async function wrkLoad (url: string, seconds: number): Promise<void> {
  await execFileAsync('wrk', ['-t1', '-c16', `-d${seconds}s`, url], { timeout: (seconds + 30) * 1000 })
}

async function fixedCount (url: string, count: number): Promise<void> {
  const { stdout } = await execFileAsync(process.execPath, [join(here, 'fixed-count-client.mjs'), url, String(count), String(CONNECTIONS)], { timeout: 600_000 })
  const r = JSON.parse(stdout.trim()) as { ok: number, failed: number }
  if (r.failed > 0 || r.ok !== count) throw new Error(`${url}: ${r.failed} of ${count} requests failed`)
}

export async function run (): Promise<BenchResult> {
  const name = 'delivery: instructions per request of session sampling (callgrind)'
  if (!await has('valgrind') || !await has('callgrind_control')) {
    return { name, lines: ['skipped: valgrind is not installed (apt-get install valgrind); this benchmark counts instructions with callgrind'] }
  }
  const work = await mkdtemp(join(tmpdir(), 'lectern-bench-session-'))
  const children: ChildProcess[] = []
  try {
    const dataDir = join(work, 'data')
    const { id } = await writeBenchVideo(dataDir, { r64k: randomBytes(64 * KiB), r1m: randomBytes(1024 * KiB) })
    await execFileAsync(process.execPath, ['scripts/build-if-needed.mjs'], { cwd: projectRoot })
    const port = await freePort()
    // valgrind names its control pipes after USER and HOST: the same for the server and callgrind_control.
    const env = { ...process.env, DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', WORKER: 'off', USER: 'lectern-bench' }
    const base = `http://127.0.0.1:${port}`
    const paths = { '64 KiB': `/hls/${id}/r64k/segment-00000.ts`, '1 MiB': `/hls/${id}/r1m/segment-00000.ts` }

    // -- the user-space share of the server's CPU per request, without valgrind: at saturation
    // (wrk, when installed; the median of three runs) and under the Node client's light load
    const saturating = await hasWrk()
    progress('the server\'s user and system CPU per request, without valgrind')
    const plain = spawn(process.execPath, ['dist/src/server.js'], { cwd: projectRoot, env, stdio: 'ignore' })
    children.push(plain)
    await waitForHttp(`${base}/health/live`, plain, 'Lectern')
    const lightShare: Record<string, number> = {}
    const saturatedShare: Record<string, number> = {}
    for (const [size, path] of Object.entries(paths)) {
      await fixedCount(base + path, WARMUP)
      lightShare[size] = await userShareDuring(plain.pid!, async () => { await fixedCount(base + path, REQUESTS * 2) })
      if (!saturating) continue
      await wrkLoad(base + path, 2)
      const shares: number[] = []
      for (let i = 0; i < 3; i++) shares.push(await userShareDuring(plain.pid!, async () => { await wrkLoad(base + path, SATURATED_SECONDS) }))
      saturatedShare[size] = median(shares)
    }
    plain.kill('SIGTERM')
    await new Promise((resolve) => plain.once('exit', resolve))

    // -- instructions under callgrind
    progress('starting Lectern under callgrind (about half a minute)')
    const outDir = join(work, 'callgrind')
    await execFileAsync('mkdir', ['-p', outDir])
    const server = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${outDir}/cg.%p`,
      process.execPath, 'dist/src/server.js'], { cwd: projectRoot, env, stdio: 'ignore' })
    children.push(server)
    await waitForHttp(`${base}/health/live`, server, 'Lectern under valgrind', 300_000)
    // vgdb -l lists the processes it can reach, and exits with 1 whatever it found.
    const listed = await execFileAsync('vgdb', ['-l'], { env }).then((r) => r.stdout, (err: { stdout?: string }) => err.stdout ?? '')
    const pid = /--pid=(\d+)[^\n]*dist\/src\/server\.js/.exec(listed)?.[1]
    if (pid === undefined) throw new Error(`no callgrind process found: ${listed}`)
    const control = async (...args: string[]): Promise<void> => { await execFileAsync('callgrind_control', [...args, pid], { env }) }

    // Every variant once before any count, so that compiling the hot path is not counted in the first.
    progress('warming up')
    for (const path of Object.values(paths)) for (const q of ['', `?sid=${SID}`]) await fixedCount(base + path + q, 2 * WARMUP)
    const counts = new Map<string, number[]>()
    /** Per count, the share of its requests the fast path answered (the rest went to the router). */
    const fastShares: number[] = []
    let dumps = 0
    const order: string[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [size, path] of Object.entries(paths)) {
        for (const session of [false, true]) {
          const label = `${size}${session ? ', session' : ''}`
          progress(`${label}: ${REQUESTS} requests (round ${round}/${ROUNDS})`)
          const url = base + path + (session ? `?sid=${SID}` : '')
          await fixedCount(url, WARMUP)
          // Counted: the fast path's answers (the scrapes themselves are outside the count).
          const fastBefore = await fastPathAnswers(base)
          await control('--zero')
          await control('--instr=on')
          await fixedCount(url, REQUESTS)
          await control(`--dump=${label.replace(/[^A-Za-z0-9]/g, '_')}`)
          await control('--instr=off')
          fastShares.push((await fastPathAnswers(base) - fastBefore) / REQUESTS)
          dumps++
          order.push(label)
        }
      }
    }
    server.kill('SIGTERM')
    await Promise.race([new Promise((resolve) => server.once('exit', resolve)), sleep(30_000)])

    // The main thread's file of each dump: cg.<pid>.<dump>-01, its `summary:` line the instructions.
    const files = await readdir(outDir)
    for (let dump = 1; dump <= dumps; dump++) {
      const file = files.find((f) => f === `cg.${pid}.${dump}-01`)
      if (file === undefined) throw new Error(`callgrind wrote no main-thread file for dump ${dump} (${files.join(' ')})`)
      const text = await readFile(join(outDir, file), 'utf8')
      const summary = /^summary: (\d+)/m.exec(text)?.[1]
      if (summary === undefined) throw new Error(`${file} has no summary`)
      const label = order[dump - 1]!
      counts.set(label, [...(counts.get(label) ?? []), Number(summary) / REQUESTS])
    }

    const rows: Array<Record<string, string | number>> = []
    const lines: string[] = []
    for (const size of Object.keys(paths)) {
      const without = counts.get(size)!
      const withSession = counts.get(`${size}, session`)!
      const ratios = withSession.map((x, i) => x / without[i]!)
      rows.push({ segment: size, 'instructions/request': Math.round(median(without)), 'with session': Math.round(median(withSession)), 'ratio (median)': fmt(median(ratios)), 'ratio (rounds)': `${fmt(Math.min(...ratios))}-${fmt(Math.max(...ratios))}` })
      const extra = median(ratios) - 1
      const pct = (share: number): string => `${(share * 100).toFixed(0)}%`
      const light = lightShare[size]!
      const lightCost = `under the Node client's light load user space is ${pct(light)} of it, which would make it ${(extra * light * 100).toFixed(1)}%`
      let verdict: string
      if (saturating) {
        const cost = extra * saturatedShare[size]!
        // A saturated server's requests/s is the inverse of its CPU per request.
        verdict = `at saturation (wrk) user space is ${pct(saturatedShare[size]!)} of the server's CPU per request, so about ${(cost * 100).toFixed(1)}% more CPU per request, ${((1 - 1 / (1 + cost)) * 100).toFixed(1)}% fewer requests/s (target <= 5%: ${cost <= 0.05 ? 'met' : 'NOT met'}); ${lightCost}`
      } else {
        const cost = extra * light
        verdict = `wrk is not installed, so the share at saturation is not measured: ${lightCost} (target <= 5%: ${cost <= 0.05 ? 'met' : 'NOT met'}, by the light load's share)`
      }
      lines.push(`${size}: a session costs ${fmt(median(ratios))}x the user-space instructions per request (rounds ${fmt(Math.min(...ratios))}-${fmt(Math.max(...ratios))}); ${verdict}`)
    }
    // A request the router answers costs several times a fast-path answer: a count is of the fast
    // path only if (nearly) all of its requests were answered there.
    const lowest = Math.min(...fastShares)
    lines.push(`answered by the fast path: ${(lowest * 100).toFixed(2)}% of the requests of the count with the fewest, ${(median(fastShares) * 100).toFixed(2)}% in the median count${lowest < 0.999 ? ' (BELOW 99.9%: some counts include router answers and overstate the fast path)' : ''}`)
    lines.push(`setup: the server's main thread under callgrind, ${REQUESTS} requests per count after ${WARMUP} unmeasured, ${CONNECTIONS} keep-alive connections, ${ROUNDS} interleaved rounds; the user/system split without valgrind, ${saturating ? `at saturation from 3 runs of wrk -c16 for ${SATURATED_SECONDS} s (median), and ` : ''}under the light load from ${REQUESTS * 2} requests of the Node client`)
    return { name, rows, lines }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    await rm(work, { recursive: true, force: true })
  }
}
