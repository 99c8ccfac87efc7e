import type { Redis } from 'ioredis'
import type { Database } from '../db/collection.js'
import type { Role } from '../db/documents.js'
import { findUserById, roleOf } from '../db/user-repository.js'

/** What a request needs to know of its account beyond the token: that it exists, and its role now. */
export interface AccountState {
  role: Role
}

const MAX_REMEMBERED = 50_000
const GONE = '-'

/**
 * The current state of accounts, checked on every authenticated request so that a deleted account
 * or a changed role takes effect at once rather than when the access token runs out. Reads are
 * kept in process for `ttlMs` (which bounds how late another node's change is seen); with Redis
 * they are shared through `lectern:account:<id>` (a miss there reads the database). A change
 * writes the new state to Redis itself, and a node filling Redis from the database only does so
 * where nothing is (SET NX), so a fill that raced a change cannot put the old state back.
 */
export class AccountStatus {
  readonly #db: Database
  readonly #redis: Redis | undefined
  readonly #ttlMs: number
  readonly #redisTtlSeconds: number
  readonly #known = new Map<string, { state: AccountState | null, until: number }>()

  constructor (db: Database, options: { redis?: Redis, ttlMs?: number, redisTtlSeconds?: number } = {}) {
    this.#db = db
    this.#redis = options.redis
    this.#ttlMs = options.ttlMs ?? 1000
    this.#redisTtlSeconds = options.redisTtlSeconds ?? 30
  }

  /** The account's state, or null when it no longer exists. */
  async get (userId: string): Promise<AccountState | null> {
    const now = Date.now()
    const memo = this.#known.get(userId)
    if (memo !== undefined && memo.until > now) return memo.state
    let state: AccountState | null | undefined
    if (this.#redis !== undefined) {
      // Redis away: the database answers (slower, never wrong).
      const shared = await this.#redis.get(this.#key(userId)).catch(() => null)
      if (shared !== null) state = shared === GONE ? null : { role: shared as Role }
    }
    if (state === undefined) {
      const user = await findUserById(this.#db, userId)
      state = user === null ? null : { role: roleOf(user) }
      if (this.#redis !== undefined) {
        await this.#redis.set(this.#key(userId), state === null ? GONE : state.role, 'EX', this.#redisTtlSeconds, 'NX').catch(() => {})
      }
    }
    this.#remember(userId, state, now)
    return state
  }

  /** Call after the database has the change: this node sees it now, the others within ttlMs. */
  async changed (userId: string, state: AccountState | null): Promise<void> {
    this.#remember(userId, state, Date.now())
    if (this.#redis !== undefined) {
      await this.#redis.set(this.#key(userId), state === null ? GONE : state.role, 'EX', this.#redisTtlSeconds).catch(() => {})
    }
  }

  #key (userId: string): string {
    return `lectern:account:${userId}`
  }

  #remember (userId: string, state: AccountState | null, now: number): void {
    if (this.#known.size >= MAX_REMEMBERED) this.#known.delete(this.#known.keys().next().value!)
    this.#known.set(userId, { state, until: now + this.#ttlMs })
  }
}
