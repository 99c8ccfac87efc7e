import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const WATCHDOG = fileURLToPath(new URL('./child-watchdog.mjs', import.meta.url))

export interface WatchedProcess {
  /** The watchdog; its stdout and stderr are the command's. */
  child: ChildProcess
  /** The command's exit code, or 128 + the signal that ended it. */
  exited: Promise<number>
  /** Sends a signal to the command alone. */
  signal (signal: NodeJS.Signals): void
  /** Sends a signal to the command's whole process group (as a terminal's ^C reaches every process of a job). */
  signalGroup (signal: NodeJS.Signals): void
  /** SIGKILL to the command's whole process group (it and its ffmpeg): a machine dying. */
  killGroup (): void
}

/**
 * Runs a command in a process group of its own under child-watchdog.mjs, with exactly the given
 * environment: when the test process goes away, even by SIGKILL, the group goes too. Killed at
 * the end of the test if still running.
 */
export function spawnWatched (t: Test, command: string, args: string[], options: { cwd?: string, env: NodeJS.ProcessEnv }): WatchedProcess {
  const child = spawn(process.execPath, [WATCHDOG, '--group', command, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['pipe', 'pipe', 'pipe']
  })
  // Writing to a watchdog that has just exited must not throw.
  child.stdin!.on('error', () => {})
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15))))
  const send = (line: string) => {
    if (child.exitCode === null && child.signalCode === null) child.stdin!.write(line + '\n')
  }
  t.teardown(async () => {
    send('group SIGKILL')
    await exited
  })
  return { child, exited, signal: (signal) => send(signal), signalGroup: (signal) => send(`group ${signal}`), killGroup: () => send('group SIGKILL') }
}
