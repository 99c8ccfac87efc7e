import { readFile, readdir } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * The fields of /proc/<pid>/stat after the command name, from the state (field 3 in proc(5)) on;
 * undefined when the process is gone.
 */
export async function procStatFields (pid: number): Promise<string[] | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
  return text?.slice(text.lastIndexOf(')') + 2).split(' ')
}

/** A process's state letter and parent pid (undefined: gone). */
async function statOf (pid: number): Promise<{ state: string, ppid: number } | undefined> {
  const fields = await procStatFields(pid)
  return fields === undefined ? undefined : { state: fields[0]!, ppid: Number(fields[1]) }
}

/** The pids of `parent`'s children, from /proc. */
export async function childrenOf (parent: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number)
  const stats = await Promise.all(pids.map(async (pid) => [pid, await statOf(pid)] as const))
  return stats.filter(([, s]) => s?.ppid === parent).map(([pid]) => pid)
}

/**
 * Waits until process `pid` is stopped (`stopped`: state T, as SIGSTOP leaves it) or no longer
 * stopped. A signal sent through a watchdog, or even straight with kill(), takes effect some time
 * later; a test that goes on at once may see the server answer one more request.
 */
export async function untilStopped (pid: number, stopped: boolean, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const s = await statOf(pid)
    if (s === undefined) return
    if ((s.state === 'T') === stopped) return
    if (Date.now() > deadline) throw new Error(`process ${pid} is in state ${s.state}, not ${stopped ? 'stopped' : 'running'}, after ${timeoutMs} ms`)
    await sleep(5)
  }
}

/** untilStopped() for the command a child-watchdog.mjs process runs (its only child). */
export async function untilWatchedStopped (watchdogPid: number, stopped: boolean): Promise<void> {
  const [pid] = await childrenOf(watchdogPid)
  if (pid !== undefined) await untilStopped(pid, stopped)
}
