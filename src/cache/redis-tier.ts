import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import type { TierStatus } from './byte-cache.js'
import { dependencyOutages } from '../dependency-outages.js'
import { unreachableReason } from '../errors.js'

export const REDIS_KEY_PREFIX = 'lectern:c:'

/** KEYS[1] set to ARGV[3] (EX ARGV[4]) if it holds ARGV[2], or is absent when ARGV[1] is '0'. */
const SET_IF_UNCHANGED = `
local current = redis.call('GET', KEYS[1])
if (ARGV[1] == '0' and current == false) or (ARGV[1] == '1' and current == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  return 1
end
return 0`
/** At least this long without an answer to a waiting command, and a connection counts as dead. */
const DEAD_CONNECTION_MS = 3000

export interface RedisTierOptions {
  url: string
  /** Bound on every command; a slower answer is treated as a miss. */
  timeoutMs: number
  /** Values longer than this are not written to Redis. */
  maxValueBytes: number
  log: FastifyBaseLogger
  /** At most one error line per interval; the rest are counted into it. */
  logIntervalMs?: number
  /** Reconnect backoff doubles from 50 ms up to this. */
  maxReconnectDelayMs?: number
  /** How long probe() waits for a connection before reporting 'down'. */
  probeTimeoutMs?: number
}

/** Escapes a literal for a Redis glob pattern (SCAN MATCH). */
function globEscape (literal: string): string {
  return literal.replace(/[*?[\]\\]/g, (c) => '\\' + c)
}

/**
 * The shared second cache tier. It never throws and never waits on a dead or slow Redis: every
 * command is bounded by timeoutMs, commands issued while disconnected fail at once (no offline
 * queue), and any failure is a miss or a no-op, logged at most once per interval.
 */
export class RedisTier {
  readonly client: Redis
  readonly maxValueBytes: number
  readonly probeTimeoutMs: number
  #log: FastifyBaseLogger
  #logIntervalMs: number
  #lastLogAt = -Infinity
  #suppressed = 0
  #errors = 0
  #wasDown = false
  #closed = false

  constructor (options: RedisTierOptions) {
    this.maxValueBytes = options.maxValueBytes
    this.probeTimeoutMs = options.probeTimeoutMs ?? Math.max(options.timeoutMs, 1000)
    this.#log = options.log
    this.#logIntervalMs = options.logIntervalMs ?? 10_000
    const maxDelay = options.maxReconnectDelayMs ?? 2000
    this.client = new Redis(options.url, {
      lazyConnect: true,
      // A cache must not make reads wait for a connection: while Redis is away, commands fail
      // at once and the read goes to origin.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.timeoutMs,
      // A Redis that accepts connections but stopped answering (hung, SIGSTOPped): commands
      // time out one by one, but each is still written to the socket and waits in the client's
      // queue, and a value written behind a read grows the buffers. Past this long with no byte
      // from Redis while a command waits, the connection is dropped: commands then fail at once
      // (no offline queue) until a new connection answers its ready check.
      socketTimeout: Math.max(DEAD_CONNECTION_MS, 20 * options.timeoutMs),
      connectTimeout: Math.max(options.timeoutMs, 1000),
      // Never give up: reconnect with capped exponential backoff and jitter for as long as we run.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay) + Math.floor(Math.random() * 50),
      connectionName: 'lectern-cache'
    })
    this.client.on('error', (err: Error) => {
      // ioredis's socketTimeout fails the connection with a plain Error.
      if (!this.#closed) dependencyOutages.cacheRedis.down(unreachableReason(err) ?? (/^Socket timeout/.test(err.message) ? 'timed out' : 'connection failed'))
      this.#report('connection', err)
    })
    this.client.on('close', () => {
      if (this.#closed) return
      this.#wasDown = true
      dependencyOutages.cacheRedis.down('connection lost')
    })
    this.client.on('ready', () => {
      if (this.#wasDown) this.#log.info('redis cache tier reconnected')
      this.#wasDown = false
      dependencyOutages.cacheRedis.up()
    })
  }

  /** Starts connecting; resolves once ready, rejects if the first attempt fails (reconnects go on regardless). */
  async connect (): Promise<void> {
    if (this.client.status === 'wait') {
      await this.client.connect()
    } else {
      await this.#whenReady(this.probeTimeoutMs)
    }
  }

  /** Failed or timed-out commands since start. */
  get errors (): number {
    return this.#errors
  }

  async get (key: string): Promise<Buffer | undefined> {
    try {
      const value = await this.client.getBuffer(REDIS_KEY_PREFIX + key)
      return value ?? undefined
    } catch (err) {
      this.#report('get', err)
      return undefined
    }
  }

  /** Writes value with a TTL; false if it was too large or Redis did not take it. */
  async set (key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    if (value.byteLength > this.maxValueBytes) return false
    try {
      await this.client.set(REDIS_KEY_PREFIX + key, value, 'EX', ttlSeconds)
      return true
    } catch (err) {
      this.#report('set', err)
      return false
    }
  }

  /**
   * Writes value with a TTL only if the key still holds `expected` (undefined: the key is absent),
   * in one step on the server: a read-modify-write that another writer overtook is not applied.
   * True when written, false when the key had changed; undefined when too large or Redis failed.
   */
  async setIfUnchanged (key: string, expected: Buffer | undefined, value: Buffer, ttlSeconds: number): Promise<boolean | undefined> {
    if (value.byteLength > this.maxValueBytes) return undefined
    try {
      const done = await this.client.eval(SET_IF_UNCHANGED, 1, REDIS_KEY_PREFIX + key, expected === undefined ? '0' : '1', expected ?? '', value, ttlSeconds)
      return done === 1
    } catch (err) {
      this.#report('set', err)
      return undefined
    }
  }

  async delete (key: string): Promise<void> {
    try {
      await this.client.unlink(REDIS_KEY_PREFIX + key)
    } catch (err) {
      this.#report('delete', err)
    }
  }

  /** Unlinks every key starting with prefix (SCAN, so Redis is never blocked); returns how many, or -1 if Redis failed midway. */
  async deletePrefix (prefix: string): Promise<number> {
    const pattern = globEscape(REDIS_KEY_PREFIX + prefix) + '*'
    let cursor = '0'
    let removed = 0
    try {
      do {
        const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        if (keys.length > 0) removed += await this.client.unlink(...keys)
        cursor = next
      } while (cursor !== '0')
      return removed
    } catch (err) {
      this.#report('deletePrefix', err)
      return -1
    }
  }

  /** 'ok' if Redis answers PING within probeTimeoutMs (waiting that long for a reconnect), 'down' otherwise. */
  async probe (): Promise<TierStatus> {
    if (this.#closed) return 'down'
    try {
      if (this.client.status === 'wait') this.client.connect().catch(() => {})
      await this.#whenReady(this.probeTimeoutMs)
      await this.client.ping()
      return 'ok'
    } catch {
      return 'down'
    }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.client.status === 'ready') {
      try {
        await this.client.quit()
        return
      } catch {
        // fall through: a Redis that does not answer QUIT is simply dropped
      }
    }
    this.client.disconnect(false)
  }

  #whenReady (timeoutMs: number): Promise<void> {
    if (this.client.status === 'ready') return Promise.resolve()
    return new Promise((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.client.off('ready', onReady)
        reject(new Error(`redis not ready within ${timeoutMs} ms (status ${this.client.status})`))
      }, timeoutMs)
      timer.unref()
      this.client.once('ready', onReady)
    })
  }

  #report (op: string, err: unknown): void {
    if (op !== 'connection') this.#errors++
    if (this.#closed) return
    const now = performance.now()
    if (now - this.#lastLogAt < this.#logIntervalMs) {
      this.#suppressed++
      return
    }
    const suppressed = this.#suppressed
    this.#lastLogAt = now
    this.#suppressed = 0
    this.#log.warn({ op, err: (err as Error)?.message ?? String(err), suppressed },
      'redis cache tier unavailable; reads go to origin')
  }
}
