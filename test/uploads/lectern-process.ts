import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const root = fileURLToPath(new URL('../../', import.meta.url))
// Under the watchdog: a test killed by tap's timeout leaves no Lectern behind.
const WATCHDOG = fileURLToPath(new URL('../helpers/child-watchdog.mjs', import.meta.url))
const START_WITHIN_MS = 60_000

export interface LecternProcess {
  origin: string
  child: ChildProcess
  output: () => string
  /** SIGKILL, as a crash or a pulled plug: no graceful close, requests cut where they are. */
  kill: () => Promise<void>
  /** SIGTERM and wait for the exit code. */
  stop: () => Promise<number | null>
}

/** `npm start`'s entry (src/server.ts through tsx) as a process of its own, listening on a free port. */
export async function startLectern (t: Test, env: Record<string, string>): Promise<LecternProcess> {
  const child = spawn(process.execPath, [WATCHDOG, process.execPath, '--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  child.stdin!.on('error', () => {})
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-64 * 1024) })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-64 * 1024) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const alive = () => child.exitCode === null && child.signalCode === null
  const signal = async (sig: NodeJS.Signals) => {
    if (alive()) child.stdin!.write(`${sig}\n`)
    return await exited
  }
  t.teardown(async () => { await signal('SIGKILL') })
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Lectern did not listen within ${START_WITHIN_MS} ms:\n${output}`)), START_WITHIN_MS)
    const check = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (m !== null) { clearTimeout(timer); child.stdout!.off('data', check); resolve(m[1]!) }
    }
    child.stdout!.on('data', check)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`Lectern exited (${String(code)}) while starting:\n${output}`)) })
    check()
  })
  return {
    origin,
    child,
    output: () => output,
    kill: async () => { await signal('SIGKILL') },
    stop: async () => await signal('SIGTERM')
  }
}
