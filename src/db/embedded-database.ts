import { constants } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import type Nedb from '@seald-io/nedb'
import type { FastifyBaseLogger } from 'fastify'
import type { Collection, Database, Filter, FindOneAndUpdateOptions, FindOptions, IndexOptions, Projection, Update, UpdateResult } from './collection.js'
import { DuplicateKeyError } from '../errors.js'
import { newId } from './new-id.js'
import { toNedbFilter, toNedbUpdate, withoutUndefined } from './nedb-query.js'
import { filterEqualities } from './filter-equalities.js'
import { SerialQueue } from './serial-queue.js'
import { DirectoryLock } from './directory-lock.js'

// The embedded store keeps each collection in memory and appends every write to
// <dir>/<collection>.db. It is single-process: one API node with the inline worker. Two processes
// appending to the same files would corrupt them, so a directory lock refuses a second opener; scaled-out
// deployments (several API nodes, separate workers) use MongoDB.

const require = createRequire(import.meta.url)
// Required rather than imported: nedb is CommonJS whose typings declare an ES default export.
const Datastore = require('@seald-io/nedb') as typeof Nedb.default
type Datastore<S> = Nedb.default<S>
// nedb's own modifier engine, so an upsert builds its new document exactly as an update would.
const model = require('@seald-io/nedb/lib/model.js') as { modify: (doc: object, update: object) => Record<string, unknown> }

export const DEFAULT_COMPACTION_INTERVAL_MS = 10 * 60 * 1000
const COLLECTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/

export interface EmbeddedDatabaseOptions {
  /** Directory holding one <collection>.db file per collection. */
  dir: string
  /** How often each datafile is rewritten without its superseded lines. */
  compactionIntervalMs?: number
  log?: FastifyBaseLogger
}

interface UniqueViolation extends Error {
  errorType: 'uniqueViolated'
  key: unknown
}

function isUniqueViolation (err: unknown): err is UniqueViolation {
  return err instanceof Error && (err as Partial<UniqueViolation>).errorType === 'uniqueViolated'
}

function sameDocument (a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b)
}

class EmbeddedCollection<T extends { _id: string }> implements Collection<T> {
  readonly name: string
  readonly file: string
  private readonly store: Datastore<Record<string, unknown>>
  private readonly writes = new SerialQueue()
  private readonly loaded: Promise<void>
  private isLoaded = false
  private readonly isClosed: () => boolean

  constructor (name: string, dir: string, isClosed: () => boolean) {
    this.name = name
    this.file = join(dir, `${name}.db`)
    this.isClosed = isClosed
    this.store = new Datastore({ filename: this.file })
    // Loading is explicit rather than nedb's autoload so that a failure surfaces on every call,
    // instead of leaving nedb's buffered operations waiting forever.
    this.loaded = this.store.loadDatabaseAsync().then(() => { this.isLoaded = true }, (err: Error) => {
      throw new Error(`The embedded database file ${this.file} could not be loaded: ${err.message}`)
    })
    this.loaded.catch(() => {})
  }

  private async ready (): Promise<void> {
    if (this.isClosed()) throw new Error(`The embedded database is closed (collection "${this.name}")`)
    if (!this.isLoaded) await this.loaded
  }

  /** Resolves once the datafile is loaded; rejects if it could not be. */
  whenLoaded (): Promise<void> {
    return this.loaded
  }

  private async write<R> (task: () => Promise<R>): Promise<R> {
    // Checked when queued, not when run: writes queued before close() still land.
    if (this.isClosed()) throw new Error(`The embedded database is closed (collection "${this.name}")`)
    return await this.writes.run(async () => {
      if (!this.isLoaded) await this.loaded
      try {
        return await task()
      } catch (err) {
        throw this.translate(err)
      }
    })
  }

  private translate (err: unknown): unknown {
    if (!isUniqueViolation(err)) return err
    const key = typeof err.key === 'string' ? `"${err.key}"` : JSON.stringify(err.key)
    return new DuplicateKeyError(`A document in "${this.name}" already has the unique value ${key}`)
  }

  async insertOne (doc: T): Promise<void> {
    if (typeof doc._id !== 'string' || doc._id === '') throw new TypeError(`insertOne into "${this.name}" needs a string _id`)
    await this.write(() => this.store.insertAsync(withoutUndefined(doc) as Record<string, unknown>))
  }

  async findOne (filter: Filter, options: { projection?: Projection } = {}): Promise<T | null> {
    await this.ready()
    return await this.store.findOneAsync(toNedbFilter(filter), options.projection ?? {}) as unknown as T | null
  }

  async find (filter: Filter, options: FindOptions = {}): Promise<T[]> {
    await this.ready()
    let cursor = this.store.findAsync(toNedbFilter(filter))
    if (options.sort !== undefined) cursor = cursor.sort(options.sort)
    if (options.skip !== undefined && options.skip > 0) cursor = cursor.skip(options.skip)
    if (options.limit !== undefined && options.limit > 0) cursor = cursor.limit(options.limit)
    if (options.projection !== undefined) cursor = cursor.projection(options.projection)
    return await cursor as unknown as T[]
  }

  /** The document an upsert inserts: the filter's equalities, then the update applied. */
  private upsertDocument (filter: Filter, update: Record<string, unknown>): Record<string, unknown> {
    const { _id, ...fields } = filterEqualities(filter)
    const setId = (update.$set as Record<string, unknown> | undefined)?._id
    const id = _id ?? setId ?? newId()
    if (typeof id !== 'string') throw new TypeError(`An upsert into "${this.name}" needs a string _id`)
    let doc: Record<string, unknown> = { _id: id }
    if (Object.keys(fields).length > 0) doc = model.modify(doc, { $set: withoutUndefined(fields) })
    const { _id: ignored, ...set } = (update.$set ?? {}) as Record<string, unknown>
    return model.modify(doc, { ...update, $set: set })
  }

  async updateOne (filter: Filter, update: Update, options: { upsert?: boolean } = {}): Promise<UpdateResult> {
    const query = toNedbFilter(filter)
    const modifier = toNedbUpdate(update)
    return await this.write(async () => {
      const [before] = await this.store.findAsync(query).limit(1)
      if (before === undefined) {
        if (options.upsert !== true) return { matchedCount: 0, modifiedCount: 0, upsertedCount: 0 }
        await this.store.insertAsync(this.upsertDocument(filter, modifier))
        return { matchedCount: 0, modifiedCount: 0, upsertedCount: 1 }
      }
      const { affectedDocuments } = await this.store.updateAsync({ _id: before._id }, modifier, { returnUpdatedDocs: true })
      return { matchedCount: 1, modifiedCount: sameDocument(before, affectedDocuments) ? 0 : 1, upsertedCount: 0 }
    })
  }

  async updateMany (filter: Filter, update: Update): Promise<UpdateResult> {
    const query = toNedbFilter(filter)
    const modifier = toNedbUpdate(update)
    return await this.write(async () => {
      const before = await this.store.findAsync(query)
      if (before.length === 0) return { matchedCount: 0, modifiedCount: 0, upsertedCount: 0 }
      const byId = new Map(before.map((d: Record<string, unknown>) => [d._id, d]))
      // nedb applies a multi update to every document before persisting any: all or nothing.
      const { affectedDocuments } = await this.store.updateAsync({ _id: { $in: [...byId.keys()] } }, modifier, { multi: true, returnUpdatedDocs: true })
      const modifiedCount = (affectedDocuments ?? []).filter((d: Record<string, unknown>) => !sameDocument(byId.get(d._id), d)).length
      return { matchedCount: before.length, modifiedCount, upsertedCount: 0 }
    })
  }

  async findOneAndUpdate (filter: Filter, update: Update, options: FindOneAndUpdateOptions = {}): Promise<T | null> {
    const query = toNedbFilter(filter)
    const modifier = toNedbUpdate(update)
    // The find and the update run inside this collection's write queue, so no other write of this
    // process can take the document in between: that is what makes a job claim atomic.
    return await this.write(async () => {
      let cursor = this.store.findAsync(query)
      if (options.sort !== undefined) cursor = cursor.sort(options.sort)
      const [before] = await cursor.limit(1)
      if (before === undefined) {
        if (options.upsert !== true) return null
        const inserted = await this.store.insertAsync(this.upsertDocument(filter, modifier))
        return options.returnDocument === 'before' ? null : inserted as unknown as T
      }
      const { affectedDocuments } = await this.store.updateAsync({ _id: before._id }, modifier, { returnUpdatedDocs: true })
      return (options.returnDocument === 'before' ? before : affectedDocuments) as unknown as T
    })
  }

  async deleteOne (filter: Filter): Promise<number> {
    const query = toNedbFilter(filter)
    return await this.write(() => this.store.removeAsync(query, { multi: false }))
  }

  async deleteMany (filter: Filter): Promise<number> {
    const query = toNedbFilter(filter)
    return await this.write(() => this.store.removeAsync(query, { multi: true }))
  }

  async countDocuments (filter: Filter = {}): Promise<number> {
    await this.ready()
    return await this.store.countAsync(toNedbFilter(filter)) as unknown as number
  }

  async createIndex (fields: Record<string, 1 | -1>, options: IndexOptions = {}): Promise<void> {
    const names = Object.keys(fields)
    if (names.length === 0) throw new TypeError(`createIndex on "${this.name}" needs at least one field`)
    // nedb indexes have no direction; a compound index serves equality lookups on all its fields.
    await this.write(() => this.store.ensureIndexAsync({
      fieldName: names.length === 1 ? names[0]! : names,
      unique: options.unique === true,
      sparse: options.sparse === true
    }))
  }

  /** Waits for queued writes, then rewrites the datafile without superseded lines. */
  async compact (): Promise<void> {
    await this.writes.drain()
    try {
      await this.loaded
    } catch {
      return
    }
    await this.store.compactDatafileAsync()
  }
}

/** This process's open embedded databases: a second instance on the same files would corrupt them too. */
const openDirs = new Set<string>()

export class EmbeddedDatabase implements Database {
  readonly kind = 'embedded' as const
  readonly dir: string
  private readonly collections = new Map<string, EmbeddedCollection<{ _id: string }>>()
  private readonly timer: NodeJS.Timeout
  private readonly log: FastifyBaseLogger | undefined
  private readonly lock: DirectoryLock
  private closed = false
  private closing: Promise<void> | undefined

  private constructor (dir: string, lock: DirectoryLock, options: EmbeddedDatabaseOptions) {
    this.dir = dir
    this.lock = lock
    this.log = options.log
    this.timer = setInterval(() => { this.compactAll() }, options.compactionIntervalMs ?? DEFAULT_COMPACTION_INTERVAL_MS)
    this.timer.unref()
  }

  static async open (options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
    const dir = resolve(options.dir)
    if (openDirs.has(dir)) throw new Error(`The embedded database in ${dir} is already open in this process`)
    try {
      await mkdir(dir, { recursive: true })
      await access(dir, constants.R_OK | constants.W_OK)
    } catch (err) {
      throw new Error(`The embedded database directory ${dir} is not usable: ${(err as Error).message}`)
    }
    openDirs.add(dir)
    try {
      const lock = await DirectoryLock.acquire(dir, {
        hint: 'The embedded database serves one process only; to run several API nodes or separate workers, set MONGODB_URL.'
      })
      return new EmbeddedDatabase(dir, lock, options)
    } catch (err) {
      openDirs.delete(dir)
      throw err
    }
  }

  collection<T extends { _id: string }> (name: string): Collection<T> {
    if (this.closed) throw new Error(`The embedded database is closed (collection "${name}")`)
    let collection = this.collections.get(name)
    if (collection === undefined) {
      if (!COLLECTION_NAME.test(name)) throw new TypeError(`Invalid collection name "${name}": letters, digits, _ and -, starting with a letter`)
      collection = new EmbeddedCollection(name, this.dir, () => this.closed)
      this.collections.set(name, collection)
    }
    return collection as unknown as Collection<T>
  }

  async probe (): Promise<void> {
    if (this.closed) throw new Error('The embedded database is closed')
    await access(this.dir, constants.R_OK | constants.W_OK)
    for (const collection of this.collections.values()) await collection.whenLoaded()
  }

  /** Compacts every open collection now (also runs on the interval). */
  async compact (): Promise<void> {
    for (const collection of this.collections.values()) await collection.compact()
  }

  private compactAll (): void {
    this.compact().catch((err: Error) => {
      this.log?.warn({ err: err.message }, 'embedded database compaction failed')
    })
  }

  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    clearInterval(this.timer)
    // Writes already queued still land; new calls are refused from here on.
    this.closed = true
    try {
      await this.compact()
    } finally {
      await this.lock.release()
      openDirs.delete(this.dir)
    }
  }
}

export function openEmbeddedDatabase (options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  return EmbeddedDatabase.open(options)
}
