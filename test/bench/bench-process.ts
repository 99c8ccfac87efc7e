import { execFile, type ChildProcess } from 'node:child_process'
import { procStatFields } from '../helpers/process-state.js'
import net from 'node:net'
import { promisify } from 'node:util'

/** A progress note on stderr (the result goes to stdout). */
export function progress (message: string): void {
  process.stderr.write(`  ${message}\n`)
}

/** The median; of an even count, the mean of the middle two. */
export function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/**
 * A bootstrap interval of the median of `values` (`level` 0.9: the 5th to 95th percentile of the
 * medians of 2,000 resamples), with a fixed seed so that the same values give the same interval.
 */
export function medianInterval (values: number[], level = 0.9): { low: number, high: number } {
  let seed = 0x2545f491
  const random = (): number => {
    // xorshift32
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) / 2 ** 32
  }
  const medians: number[] = []
  for (let i = 0; i < 2000; i++) medians.push(median(values.map(() => values[Math.floor(random() * values.length)]!)))
  medians.sort((a, b) => a - b)
  const tail = (1 - level) / 2
  return { low: medians[Math.floor(tail * (medians.length - 1))]!, high: medians[Math.ceil((1 - tail) * (medians.length - 1))]! }
}

/** A process's user and system CPU time so far (utime, stime of /proc/<pid>/stat), in clock ticks of 1/100 s. */
export async function cpuTicks (pid: number): Promise<{ user: number, system: number }> {
  const fields = await procStatFields(pid)
  if (fields === undefined) throw new Error(`process ${pid} is gone`)
  return { user: Number(fields[11]), system: Number(fields[12]) }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Resolves once `url` answers; throws when `child` exits first or nothing answers within `timeoutMs`. */
export async function waitForHttp (url: string, child: ChildProcess, name: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before answering`)
    try {
      const res = await fetch(url)
      await res.arrayBuffer()
      return
    } catch {
      await sleep(100)
    }
  }
  throw new Error(`${name} did not answer ${url} within ${timeoutMs / 1000} s`)
}

/** Whether wrk is installed (`wrk --version` prints its banner and exits 1). */
export async function hasWrk (): Promise<boolean> {
  try {
    await promisify(execFile)('wrk', ['--version'])
    return true
  } catch (err) {
    return (err as { stdout?: string }).stdout?.includes('wrk') === true
  }
}

/** Lectern's count of answers given by its fast path so far (its /metrics, all status classes). */
export async function fastPathAnswers (base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  return text.split('\n').filter((l) => l.startsWith('lectern_http_requests_total{') && l.includes('route="fast-path"'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}
