/** A stretch of time in which a dependency did not answer; `to` is null while it lasts. */
export interface Outage {
  from: string
  to: string | null
  /** What was seen, in words that name no host, port or path ("connection refused"). */
  error: string
}

export type DependencyName = 'storage' | 'database' | 'cacheRedis'

const KEEP = 10
const WINDOW_MS = 60 * 60 * 1000

/**
 * The outages of one dependency seen by this process: the one going on, if any, and the last
 * KEEP that ended within the last hour. Fed where errors are already observed (a call that failed
 * as unreachable opens one, the next call that succeeds closes it), so it costs a comparison per
 * call.
 */
export class OutageLog {
  readonly #keep: number
  readonly #windowMs: number
  #open: { from: number, error: string } | undefined
  readonly #ended: Array<{ from: number, to: number, error: string }> = []

  constructor (keep = KEEP, windowMs = WINDOW_MS) {
    this.#keep = keep
    this.#windowMs = windowMs
  }

  get isDown (): boolean {
    return this.#open !== undefined
  }

  /** The dependency did not answer; opens an outage unless one is going on (its first error stays). */
  down (error: string, now = Date.now()): void {
    this.#open ??= { from: now, error }
  }

  /** The dependency answered; ends the outage going on, if any. */
  up (now = Date.now()): void {
    if (this.#open === undefined) return
    this.#ended.push({ ...this.#open, to: now })
    this.#open = undefined
    if (this.#ended.length > this.#keep) this.#ended.shift()
  }

  /** Newest first: the one going on, then those that ended within the window. */
  recent (now = Date.now()): Outage[] {
    const iso = (ms: number) => new Date(ms).toISOString()
    const out: Outage[] = []
    if (this.#open !== undefined) out.push({ from: iso(this.#open.from), to: null, error: this.#open.error })
    for (let i = this.#ended.length - 1; i >= 0; i--) {
      const o = this.#ended[i]!
      if (now - o.to > this.#windowMs) break
      out.push({ from: iso(o.from), to: iso(o.to), error: o.error })
    }
    return out
  }
}

/**
 * One log per dependency for the whole process: a Lectern process has one object store, one
 * metadata store and one Redis, and every client of one (the cache tier, later the rate limits)
 * reports into the same log. Read by /health/ready.
 */
export const dependencyOutages: Record<DependencyName, OutageLog> = {
  storage: new OutageLog(),
  database: new OutageLog(),
  cacheRedis: new OutageLog()
}
