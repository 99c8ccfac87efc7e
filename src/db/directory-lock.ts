import { open, readFile, stat, unlink, utimes } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'

// Marks a directory as owned by one process. Node has no flock, so the lock is a file that its
// holder keeps fresh: a holder on this host that is gone frees it at once; otherwise (another
// host or container sharing the volume, or a reused pid) it is free once not refreshed for staleMs.

export const LOCK_FILE = 'LOCK'
export const DEFAULT_REFRESH_MS = 10_000

interface LockOwner {
  pid: number
  host: string
  since: string
}

export interface DirectoryLockOptions {
  /** How often the holder refreshes the lock; it is stale after three missed refreshes. */
  refreshMs?: number
  /** What to tell the user when the lock is held, after "in use by ...". */
  hint?: string
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function parseOwner (text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>
    if (typeof owner.pid === 'number' && typeof owner.host === 'string') return { pid: owner.pid, host: owner.host, since: String(owner.since) }
  } catch {}
  return undefined
}

/** Another live process holds the directory: start-up says so in one line (src/server.ts). */
export class DirectoryInUseError extends Error {
  override name = 'DirectoryInUseError'
  readonly code = 'LECTERN_ERR_DATA_DIR_IN_USE'
}

export class DirectoryLock {
  readonly file: string
  private readonly timer: NodeJS.Timeout
  private released = false

  private constructor (file: string, refreshMs: number) {
    this.file = file
    this.timer = setInterval(() => {
      const now = new Date()
      utimes(this.file, now, now).catch(() => {})
    }, refreshMs)
    this.timer.unref()
  }

  /** Takes the lock of dir, or throws naming the process that holds it. */
  static async acquire (dir: string, options: DirectoryLockOptions = {}): Promise<DirectoryLock> {
    const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS
    const file = join(dir, LOCK_FILE)
    const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() }
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(file, 'wx')
        try {
          await handle.writeFile(JSON.stringify(me))
        } finally {
          await handle.close()
        }
        return new DirectoryLock(file, refreshMs)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const [text, info] = await Promise.all([readFile(file, 'utf8').catch(() => ''), stat(file).catch(() => undefined)])
      if (info === undefined) continue // released meanwhile: try again
      const owner = parseOwner(text)
      const ageMs = Date.now() - info.mtimeMs
      const goneHere = owner !== undefined && owner.host === me.host && (owner.pid === me.pid || !isAlive(owner.pid))
      if (!goneHere && owner !== undefined && ageMs <= 3 * refreshMs) {
        const where = owner.host === me.host ? `process ${owner.pid}` : `process ${owner.pid} on ${owner.host}`
        throw new DirectoryInUseError(`${dir} is in use by ${where} (since ${owner.since}).${options.hint !== undefined ? ' ' + options.hint : ''}`)
      }
      if (owner === undefined && ageMs <= 3 * refreshMs) {
        // Being written by an opener right now, or unreadable: not ours to take yet.
        await new Promise((resolve) => setTimeout(resolve, 50))
        continue
      }
      await unlink(file).catch(() => {})
    }
    throw new Error(`Could not take the lock ${file}; if no other process uses ${dir}, remove that file`)
  }

  async release (): Promise<void> {
    if (this.released) return
    this.released = true
    clearInterval(this.timer)
    await unlink(this.file).catch(() => {})
  }
}
