import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { freePort } from './free-port.js'
import { underCi } from './requirements.js'
import { childEnv } from './child-env.js'
import { untilWatchedStopped } from './process-state.js'

const REDIS_BIN = process.env.REDIS_SERVER_PATH ?? 'redis-server'
// redis-server runs under a watchdog that kills it when this process's end closes its stdin,
// so a test killed by tap's timeout does not leave servers behind.
const WATCHDOG = fileURLToPath(new URL('./child-watchdog.mjs', import.meta.url))
const START_TIMEOUT_MS = 10_000

export interface RedisServer {
  url: string
  port: number
  /** SIGTERM, and wait for exit. */
  stop (): Promise<void>
  /** SIGKILL, and wait for exit: a crash, as the clients see it. */
  kill (): Promise<void>
  /** Starts a fresh, empty redis-server on the same port (after stop or kill). */
  restart (): Promise<void>
  /** SIGSTOP: connections are still accepted, nothing answers (a hung server); resume() undoes it. Resolves once it is stopped. */
  pause (): Promise<void>
  /** SIGCONT; resolves once it runs again. */
  resume (): Promise<void>
}

/** Why redis-server cannot run here, or undefined if it can. */
export function redisServerMissing (): string | undefined {
  const probe = spawnSync(REDIS_BIN, ['--version'], { encoding: 'utf8', timeout: 5000 })
  if (probe.error !== undefined) return `${REDIS_BIN} is not runnable (${probe.error.message}); install it with apt-get install -y redis-server`
  if (probe.status !== 0) return `${REDIS_BIN} --version exited with ${probe.status}: ${probe.stderr}`
  return undefined
}

/**
 * Skips the test (with the reason printed) when redis-server is not installed, except under CI,
 * where a missing redis-server is a failure: CI installs it and must not pass by skipping.
 * Returns true when the caller should go on.
 */
export function requireRedisServer (t: Test): boolean {
  const missing = redisServerMissing()
  if (missing === undefined) return true
  if (underCi()) {
    t.fail(`redis-server is required in CI: ${missing}`)
  } else {
    t.comment(`skipping: ${missing}`)
    // A plan of 0 with a reason is TAP's way to skip the whole test.
    t.plan(0, missing)
  }
  return false
}

export { freePort }

/** Resolves when a raw PING on the port gets +PONG, rejects on any other outcome. */
function ping (port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let reply = ''
    socket.setTimeout(1000, () => socket.destroy(new Error('ping timed out')))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      if (reply.includes('\r\n')) {
        socket.destroy()
        if (reply.startsWith('+PONG')) resolve()
        else reject(new Error(`unexpected reply ${JSON.stringify(reply)}`))
      }
    })
    socket.on('error', reject)
  })
}

async function waitForExit (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await once(child, 'exit')
}

/** Runs redis-server on a free loopback port until the test ends. Call requireRedisServer first. */
export async function startRedisServer (t: Test): Promise<RedisServer> {
  const server = await launchRedisServer()
  t.teardown(() => server.kill())
  return server
}

/** Runs redis-server on a free loopback port; the caller must kill() it (benchmarks, scripts). */
export async function launchRedisServer (): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | undefined

  async function start (): Promise<void> {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning']
    const proc = spawn(process.execPath, [WATCHDOG, REDIS_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() })
    child = proc
    // Writing a signal to a watchdog that has just exited must not throw.
    proc.stdin!.on('error', () => {})
    let output = ''
    const keep = (chunk: Buffer) => { output = (output + chunk.toString('utf8')).slice(-4000) }
    proc.stdout!.on('data', keep)
    proc.stderr!.on('data', keep)
    let exited = false
    proc.once('exit', () => { exited = true })
    proc.once('error', (err) => { output += `\n${err.message}` })
    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      if (exited) throw new Error(`redis-server exited during start-up on port ${port}:\n${output}`)
      try {
        await ping(port)
        return
      } catch (err) {
        if (Date.now() > deadline) {
          proc.stdin!.write('SIGKILL\n')
          throw new Error(`redis-server did not answer PING on port ${port} within ${START_TIMEOUT_MS} ms (${(err as Error).message}):\n${output}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    }
  }

  async function signal (sig: NodeJS.Signals): Promise<void> {
    const proc = child
    if (proc === undefined) return
    child = undefined
    // A SIGCONT first: a stopped (paused) server keeps a SIGTERM pending.
    if (proc.exitCode === null && proc.signalCode === null) proc.stdin!.write(`SIGCONT\n${sig}\n`)
    await waitForExit(proc)
  }

  /** Sends `sig` through the watchdog and returns once redis-server is stopped (or running again). */
  async function pausing (sig: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    if (child === undefined) {
      // Resuming what has stopped since (a teardown) is nothing to do.
      if (sig === 'SIGCONT') return
      throw new Error('redis-server is not running')
    }
    child.stdin!.write(`${sig}\n`)
    await untilWatchedStopped(child.pid!, sig === 'SIGSTOP')
  }

  await start()

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    async restart () {
      await signal('SIGKILL')
      await start()
    },
    pause: () => pausing('SIGSTOP'),
    resume: () => pausing('SIGCONT')
  }
}
