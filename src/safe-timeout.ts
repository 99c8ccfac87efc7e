/**
 * Node keeps timer delays in a signed 32-bit int: a delay above 2^31-1 ms (about 24.8 days) is
 * replaced by 1 ms with a TimeoutOverflowWarning, so a long computed delay fires at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

export interface SafeTimeout {
  /** Stops it; the callback will not run. */
  clear: () => void
}

export interface SafeTimeoutOptions {
  /** Keep the process alive while it waits (default false: like an unref'd timer). */
  ref?: boolean
  /** Longest single timer; for tests of the chaining. */
  maxMs?: number
  /** The timer functions (tests observe the chain through them). */
  timers?: Timers
}

interface Timers {
  set: (fn: () => void, ms: number) => object
  clear: (handle: any) => void
}

/**
 * Runs `fn` once after `ms` milliseconds, however long: delays above the largest timer Node
 * allows are waited out as a chain of timers, each at most `maxMs`. Non-finite or negative delays
 * are refused rather than silently turned into 1 ms.
 */
export function setSafeTimeout (fn: () => void, ms: number, options: SafeTimeoutOptions = {}): SafeTimeout {
  if (!Number.isFinite(ms) && ms !== Infinity) throw new RangeError(`timer delay must be a number of milliseconds, got ${ms}`)
  if (ms < 0) throw new RangeError(`timer delay must not be negative, got ${ms}`)
  const maxMs = options.maxMs ?? MAX_TIMER_MS
  const timers: Timers = options.timers ?? { set: setTimeout, clear: clearTimeout }
  let remaining = ms
  let handle: object | null = null
  let cleared = false
  const schedule = (f: () => void, wait: number): object => {
    const h = timers.set(f, wait) as { unref?: () => unknown }
    if (options.ref !== true) h.unref?.()
    return h
  }
  const step = () => {
    if (cleared) return
    if (remaining <= 0) {
      handle = null
      fn()
      return
    }
    const wait = Math.min(remaining, maxMs)
    remaining -= wait
    handle = schedule(step, wait)
  }
  // The first timer carries the whole delay when it fits, so the common case is one plain timer.
  if (ms === 0) {
    handle = schedule(step, 0)
  } else {
    step()
  }
  return {
    clear: () => {
      cleared = true
      if (handle !== null) timers.clear(handle)
      handle = null
    }
  }
}
