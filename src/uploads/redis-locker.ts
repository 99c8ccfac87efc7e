import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Lock, Locker, RequestRelease } from '@tus/utils'
import { tusError } from './tus-error.js'

// Compare-and-delete / compare-and-extend: only the holder's token may release or extend a lock.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`

export interface RedisLockerOptions {
  /** Commands (SET NX, EVAL, PUBLISH). */
  redis: Redis
  /** A second connection in subscriber mode: release requests and releases arrive here. */
  subscriber: Redis
  prefix?: string
  /** A lock whose holder stops renewing it (a node that died) is free after this. */
  ttlMs?: number
  /** How long a request waits for a lock before giving up with 423. */
  acquireTimeoutMs?: number
}

interface Held {
  token: string
  requestRelease: RequestRelease
}

/**
 * The tus Locker over Redis, so that two requests for one upload on different API nodes are
 * serialised as on one node: SET NX with a TTL that the holder renews, released by
 * compare-and-delete. As @tus/server's MemoryLocker does within a process, a request that wants
 * a held lock asks its holder to let go (over pub/sub, reaching whichever node holds it); the
 * holder stops reading its body, stores what it has, and releases. A node that dies holding a lock
 * frees it when the TTL runs out.
 */
export class RedisLocker implements Locker {
  readonly redis: Redis
  readonly prefix: string
  readonly ttlMs: number
  readonly acquireTimeoutMs: number
  /** Locks held by this process, by upload id. */
  readonly held = new Map<string, Held>()
  private readonly waiters = new Map<string, Set<() => void>>()
  private readonly subscriber: Redis
  private ready: Promise<unknown> | undefined

  constructor ({ redis, subscriber, prefix = 'lectern:tus-lock:', ttlMs = 10_000, acquireTimeoutMs = 30_000 }: RedisLockerOptions) {
    this.redis = redis
    this.subscriber = subscriber
    this.prefix = prefix
    this.ttlMs = ttlMs
    this.acquireTimeoutMs = acquireTimeoutMs
    subscriber.on('message', (channel: string, id: string) => {
      if (channel === this.channel('release')) {
        void this.held.get(id)?.requestRelease()
      } else if (channel === this.channel('released')) {
        for (const wake of this.waiters.get(id) ?? []) wake()
      }
    })
  }

  channel (kind: 'release' | 'released'): string {
    return `${this.prefix}${kind}`
  }

  /** Subscribes once; every lock waits for it, so no release request is missed. */
  subscribed (): Promise<unknown> {
    this.ready ??= this.subscriber.subscribe(this.channel('release'), this.channel('released'))
    return this.ready
  }

  newLock (id: string): Lock {
    return new RedisLock(this, id)
  }

  wait (id: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(id) ?? new Set()
      this.waiters.set(id, set)
      const done = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        set.delete(done)
        if (set.size === 0) this.waiters.delete(id)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      set.add(done)
    })
  }
}

class RedisLock implements Lock {
  private token: string | undefined
  private renewTimer: NodeJS.Timeout | undefined

  constructor (private readonly locker: RedisLocker, private readonly id: string) {}

  private get key (): string {
    return this.locker.prefix + this.id
  }

  async lock (signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const { redis, ttlMs, acquireTimeoutMs } = this.locker
    await this.locker.subscribed()
    const token = randomBytes(16).toString('hex')
    const deadline = Date.now() + acquireTimeoutMs
    let delay = 25
    for (;;) {
      if (signal.aborted) throw tusError({ statusCode: 400, code: 'LECTERN_ERR_BAD_REQUEST', message: 'the request ended while it waited for the upload' })
      if (await redis.set(this.key, token, 'PX', ttlMs, 'NX') === 'OK') break
      if (Date.now() > deadline) {
        throw tusError({ statusCode: 423, code: 'LECTERN_ERR_UPLOAD_LOCKED', message: 'another request is still writing this upload; try again in a few seconds' })
      }
      // Ask the holder, on whichever node, to finish; then wait for its release (or poll).
      await redis.publish(this.locker.channel('release'), this.id)
      await this.locker.wait(this.id, delay, signal)
      delay = Math.min(delay * 2, 500)
    }
    this.token = token
    this.locker.held.set(this.id, { token, requestRelease })
    this.renewTimer = setInterval(() => {
      redis.eval(EXTEND, 1, this.key, token, String(ttlMs)).catch(() => {})
    }, Math.max(100, Math.floor(ttlMs / 3)))
    this.renewTimer.unref()
  }

  async unlock (): Promise<void> {
    clearInterval(this.renewTimer)
    const token = this.token
    if (token === undefined) return
    this.token = undefined
    if (this.locker.held.get(this.id)?.token === token) this.locker.held.delete(this.id)
    await this.locker.redis.eval(RELEASE, 1, this.key, token)
    await this.locker.redis.publish(this.locker.channel('released'), this.id)
  }
}
