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
  /** A Redis call slower than this counts as Redis being away (see RedisLock.lock). */
  redisTimeoutMs?: number
  /** Told when Redis is away and a lock is taken in this process only (rate-limited by the caller). */
  onRedisAway?: (err: unknown) => void
}

interface Held {
  token: string
  requestRelease: RequestRelease
}

/** The prefix of the token of a lock taken in this process only, while Redis did not answer. */
const LOCAL = 'local:'

/** p, or a rejection once ms have passed: a Redis that accepts connections but never answers. */
function bounded<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`redis did not answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms)
    })
  ]).finally(() => clearTimeout(timer))
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
  readonly redisTimeoutMs: number
  readonly onRedisAway: (err: unknown) => void
  /** Locks held by this process, by upload id. */
  readonly held = new Map<string, Held>()
  private readonly waiters = new Map<string, Set<() => void>>()
  private readonly subscriber: Redis
  private ready: Promise<unknown> | undefined

  constructor ({ redis, subscriber, prefix = 'lectern:tus-lock:', ttlMs = 10_000, acquireTimeoutMs = 30_000, redisTimeoutMs = 2000, onRedisAway = () => {} }: RedisLockerOptions) {
    this.redis = redis
    this.subscriber = subscriber
    this.prefix = prefix
    this.ttlMs = ttlMs
    this.acquireTimeoutMs = acquireTimeoutMs
    this.redisTimeoutMs = redisTimeoutMs
    this.onRedisAway = onRedisAway
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
    const ready = this.ready ??= this.subscriber.subscribe(this.channel('release'), this.channel('released'))
    // A subscription that failed is tried again by the next lock.
    ready.catch(() => { if (this.ready === ready) this.ready = undefined })
    return bounded(ready, this.redisTimeoutMs)
  }

  /** Wakes this process's waiters for id (a release that did not go through Redis). */
  wake (id: string): void {
    for (const wake of this.waiters.get(id) ?? []) wake()
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

  /**
   * Redis away (refused, or not answering within redisTimeoutMs) fails open: the lock is taken in
   * this process only, as @tus/server's MemoryLocker does, and the request goes on. Two requests
   * for one upload on this node still take turns; on two nodes at once (a client that retries on
   * another node while its first request still writes) they are not kept apart until Redis is
   * back. An upload is not refused for want of a cache server.
   */
  async lock (signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const { redis, ttlMs, acquireTimeoutMs, redisTimeoutMs } = this.locker
    const token = randomBytes(16).toString('hex')
    const deadline = Date.now() + acquireTimeoutMs
    let delay = 25
    let local = false
    try {
      await this.locker.subscribed()
    } catch (err) {
      local = true
      this.locker.onRedisAway(err)
    }
    for (;;) {
      if (signal.aborted) throw tusError({ statusCode: 400, code: 'LECTERN_ERR_BAD_REQUEST', message: 'the request ended while it waited for the upload' })
      const heldHere = this.locker.held.get(this.id)
      if (!local && heldHere?.token.startsWith(LOCAL) === true) {
        // Taken in this process while Redis was away: Redis does not know of it.
        void heldHere.requestRelease()
      } else if (!local) {
        try {
          if (await bounded(redis.set(this.key, token, 'PX', ttlMs, 'NX'), redisTimeoutMs) === 'OK') break
        } catch (err) {
          local = true
          this.locker.onRedisAway(err)
        }
      }
      if (local && !this.locker.held.has(this.id)) break
      if (Date.now() > deadline) {
        throw tusError({ statusCode: 423, code: 'LECTERN_ERR_UPLOAD_LOCKED', message: 'another request is still writing this upload; try again in a few seconds' })
      }
      // Ask the holder, on whichever node, to finish; then wait for its release (or poll).
      if (local) {
        void this.locker.held.get(this.id)?.requestRelease()
      } else if (heldHere?.token.startsWith(LOCAL) !== true) {
        await bounded(redis.publish(this.locker.channel('release'), this.id), redisTimeoutMs).catch(() => {})
      }
      await this.locker.wait(this.id, delay, signal)
      delay = Math.min(delay * 2, 500)
    }
    if (local) {
      this.token = LOCAL + token
      this.locker.held.set(this.id, { token: this.token, requestRelease })
      return
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
    this.locker.wake(this.id)
    if (token.startsWith(LOCAL)) return
    // Redis away: the lock's TTL frees it (the request that held it has its answer already).
    const { redis, redisTimeoutMs } = this.locker
    try {
      await bounded(redis.eval(RELEASE, 1, this.key, token), redisTimeoutMs)
      await bounded(redis.publish(this.locker.channel('released'), this.id), redisTimeoutMs)
    } catch (err) {
      this.locker.onRedisAway(err)
    }
  }
}
