import { MongoClient, MongoServerError, type Collection as MongoCollection, type Db, type Document } from 'mongodb'
import type { FastifyBaseLogger } from 'fastify'
import type { Collection, Database, Filter, FindOneAndUpdateOptions, FindOptions, IndexOptions, Projection, Update, UpdateResult } from './collection.js'
import { DuplicateKeyError, MetadataStoreUnavailableError, unreachableReason } from '../errors.js'
import { dependencyOutages } from '../dependency-outages.js'
import { newId } from './new-id.js'
import { filterEqualities } from './filter-equalities.js'
import { checkFilter, checkPull } from './nedb-query.js'
import { SerialQueue } from './serial-queue.js'

export const DEFAULT_DATABASE_NAME = 'lectern'
const SERVER_SELECTION_TIMEOUT_MS = 5000
/** A new connection that is not up within this fails (the driver's default is 30 s). */
const CONNECT_TIMEOUT_MS = 5000
/**
 * An operation whose socket stays silent this long fails (the driver's default is never): a
 * server that accepts connections but stopped answering does not hold a request forever. Lectern's
 * queries are small and paged, so none waits this long on a healthy server.
 */
const SOCKET_TIMEOUT_MS = 20_000
const PROBE_TIMEOUT_MS = 1500
/**
 * The default of MONGODB_OPERATION_TIMEOUT_MS: the longest one operation may take in all. The
 * driver's own bounds add up (a silent socket, a retry, server selection, a new connection's
 * handshake), and a write queued behind others (FerretDB) waits for them too; with a server that
 * accepts connections but never answers, a request would wait for the sum.
 */
export const OPERATION_TIMEOUT_MS = 30_000
const UPDATE_OPERATORS = new Set(['$set', '$unset', '$inc', '$push', '$pull'])

export interface MongoDatabaseOptions {
  url: string
  /** Overrides the database named in the URL path (tests use one database each). */
  dbName?: string
  serverSelectionTimeoutMs?: number
  /** See OPERATION_TIMEOUT_MS. */
  operationTimeoutMs?: number
  log?: FastifyBaseLogger
}

/** The database named in a mongodb:// URL's path, or undefined. */
export function databaseNameFromUrl (url: string): string | undefined {
  // Not `new URL`: seed lists (`host1,host2`) are valid MongoDB URLs but not WHATWG ones.
  const match = /^mongodb(?:\+srv)?:\/\/[^/?#]*\/([^?#]*)/.exec(url)
  const name = match?.[1] !== undefined ? decodeURIComponent(match[1]) : ''
  return name === '' ? undefined : name
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl (url: string): string {
  return url.replace(/^(mongodb(?:\+srv)?:\/\/[^:/@]*):[^@/]*@/, '$1:***@')
}

function isDuplicateKeyError (err: unknown): boolean {
  if (!(err instanceof MongoServerError)) return false
  if (err.code === 11000) return true
  // FerretDB 1.x reports a unique violation by an update (not by an insert) as a generic
  // InternalError carrying its backend's message.
  return err.code === 1 && /UNIQUE constraint failed|duplicate key value violates unique constraint/.test(err.message)
}

/**
 * A failure to reach the server becomes MetadataStoreUnavailableError (a 503 that names no host)
 * and opens a database outage; the next operation that gets an answer ends it.
 */
function unavailable (err: unknown): unknown {
  const reason = unreachableReason(err)
  if (reason === undefined) return undefined
  dependencyOutages.database.down(reason)
  return new MetadataStoreUnavailableError({ cause: err })
}

function translate (err: unknown, collection: string): unknown {
  const away = unavailable(err)
  if (away !== undefined) return away
  // The server answered (with an error): it is there.
  if (err instanceof MongoServerError) dependencyOutages.database.up()
  if (!isDuplicateKeyError(err)) return err
  const keyValue = (err as { keyValue?: Record<string, unknown> }).keyValue
  const what = keyValue !== undefined && Object.keys(keyValue).length > 0
    ? Object.entries(keyValue).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')
    : 'this unique value'
  return new DuplicateKeyError(`A document in "${collection}" already has ${what}`)
}

/** p, or the signal's reason once it aborts, whichever comes first. */
function untilAborted<R> (p: Promise<R>, signal: AbortSignal): Promise<R> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<R>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

function checkUpdate (update: Update): void {
  const ops = Object.keys(update).filter((k) => (update as Record<string, unknown>)[k] !== undefined)
  if (ops.length === 0) throw new TypeError('An update needs at least one of $set, $unset, $inc, $push, $pull')
  for (const op of ops) {
    if (!UPDATE_OPERATORS.has(op)) throw new TypeError(`Unsupported update operator ${op}`)
  }
  if (update.$pull !== undefined) checkPull(update.$pull)
}

/**
 * An upsert must insert a string _id like every other document, never the driver's ObjectId:
 * when neither the filter nor $set names one, a fresh id goes in through $setOnInsert.
 */
function withUpsertId (filter: Filter, update: Update): Document {
  if (filterEqualities(filter)._id !== undefined || update.$set?._id !== undefined) return update
  return { ...update, $setOnInsert: { _id: newId() } }
}

/**
 * Whether the server of one MongoDatabase answered its last operation, shared by its collections.
 * Once an operation could not reach it, operations fail at once, without asking it, and a ping
 * (bounded, once a second, the first at once) asks instead; its answer, or any other, lets them
 * through again. A server that accepts connections but never answers then costs the requests in
 * flight when it stopped the operation timeout, not every request after (a public video's
 * segments, which fall back to the document delivery kept, play on without waiting), and nothing
 * piles up behind it.
 */
interface Reachability {
  readonly down: boolean
  /** An operation could not reach the server. */
  lost (): void
  /** The server answered. */
  answered (): void
}

class MongoBackedCollection<T extends { _id: string }> implements Collection<T> {
  readonly name: string
  private readonly collection: MongoCollection<Document>
  /** Set on FerretDB only: see MongoDatabase.open. */
  private readonly writes: SerialQueue | undefined

  private readonly timeoutMs: number
  private readonly server: Reachability

  constructor (name: string, db: Db, serialiseWrites: boolean, timeoutMs: number, server: Reachability) {
    this.name = name
    this.collection = db.collection(name)
    this.writes = serialiseWrites ? new SerialQueue() : undefined
    this.timeoutMs = timeoutMs
    this.server = server
  }

  /** Throws while the server is known not to answer (see Reachability). */
  private admit (): void {
    if (this.server.down) throw new MetadataStoreUnavailableError()
  }

  /**
   * Runs op, failing with the signal's TimeoutError (a database outage, "timed out") once the
   * deadline passes. Reads are given the signal and stop there; the driver offers no signal for
   * writes, so a write is only no longer waited for (its socket timeout ends it).
   */
  private async call<R> (op: (signal: AbortSignal) => Promise<R>, signal = AbortSignal.timeout(this.timeoutMs), admitted = false): Promise<R> {
    if (!admitted) this.admit()
    try {
      const result = await untilAborted(op(signal), signal)
      this.server.answered()
      dependencyOutages.database.up()
      return result
    } catch (err) {
      const translated = translate(err, this.name)
      if (translated instanceof MetadataStoreUnavailableError) this.server.lost()
      else if (err instanceof MongoServerError) this.server.answered()
      throw translated
    }
  }

  private write<R> (op: () => Promise<R>, signal = AbortSignal.timeout(this.timeoutMs)): Promise<R> {
    try {
      this.admit()
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.writes === undefined) return this.call(op, signal, true)
    // The deadline runs from here, the wait in the queue included. The queue itself waits for
    // each write the driver has started (serialisation is the point of it), but skips those whose
    // caller has stopped waiting: a hung server does not build up a queue of them.
    const queued = this.writes.run(async () => {
      signal.throwIfAborted()
      return await op()
    })
    return this.call(() => queued, signal, true)
  }

  async insertOne (doc: T): Promise<void> {
    if (typeof doc._id !== 'string' || doc._id === '') throw new TypeError(`insertOne into "${this.name}" needs a string _id`)
    // The driver adds an _id to the object it is given when missing; a copy keeps the caller's clean.
    await this.write(() => this.collection.insertOne({ ...doc } as Document))
  }

  async findOne (filter: Filter, options: { projection?: Projection } = {}): Promise<T | null> {
    checkFilter(filter)
    const doc = await this.call((signal) => this.collection.findOne(filter, { signal, ...(options.projection !== undefined ? { projection: options.projection } : {}) }))
    return doc as T | null
  }

  async find (filter: Filter, options: FindOptions = {}): Promise<T[]> {
    checkFilter(filter)
    return await this.call(async (signal) => {
      let cursor = this.collection.find(filter, { signal })
      if (options.sort !== undefined) cursor = cursor.sort(options.sort)
      if (options.skip !== undefined && options.skip > 0) cursor = cursor.skip(options.skip)
      if (options.limit !== undefined && options.limit > 0) cursor = cursor.limit(options.limit)
      if (options.projection !== undefined) cursor = cursor.project(options.projection)
      return await cursor.toArray() as unknown as T[]
    })
  }

  async updateOne (filter: Filter, update: Update, options: { upsert?: boolean } = {}): Promise<UpdateResult> {
    checkFilter(filter)
    checkUpdate(update)
    const upsert = options.upsert === true
    const result = await this.write(() => this.collection.updateOne(filter, upsert ? withUpsertId(filter, update) : update as Document, { upsert }))
    return { matchedCount: result.matchedCount, modifiedCount: result.modifiedCount, upsertedCount: result.upsertedCount }
  }

  async updateMany (filter: Filter, update: Update): Promise<UpdateResult> {
    checkFilter(filter)
    checkUpdate(update)
    const result = await this.write(() => this.collection.updateMany(filter, update as Document))
    return { matchedCount: result.matchedCount, modifiedCount: result.modifiedCount, upsertedCount: result.upsertedCount }
  }

  async findOneAndUpdate (filter: Filter, update: Update, options: FindOneAndUpdateOptions = {}): Promise<T | null> {
    checkFilter(filter)
    checkUpdate(update)
    const upsert = options.upsert === true
    const doc = await this.write(() => this.collection.findOneAndUpdate(filter, upsert ? withUpsertId(filter, update) : update as Document, {
      upsert,
      returnDocument: options.returnDocument ?? 'after',
      includeResultMetadata: false,
      ...(options.sort !== undefined ? { sort: options.sort } : {})
    }))
    return doc as T | null
  }

  async deleteOne (filter: Filter): Promise<number> {
    checkFilter(filter)
    const result = await this.write(() => this.collection.deleteOne(filter))
    return result.deletedCount
  }

  async deleteMany (filter: Filter): Promise<number> {
    checkFilter(filter)
    const result = await this.write(() => this.collection.deleteMany(filter))
    return result.deletedCount
  }

  async countDocuments (filter: Filter = {}): Promise<number> {
    checkFilter(filter)
    return await this.call((signal) => this.collection.countDocuments(filter, { signal }))
  }

  async createIndex (fields: Record<string, 1 | -1>, options: IndexOptions = {}): Promise<void> {
    if (Object.keys(fields).length === 0) throw new TypeError(`createIndex on "${this.name}" needs at least one field`)
    // No deadline: indexes are made at start-up, and building one on a large collection takes long.
    await this.write(() => this.collection.createIndex(fields, {
      ...(options.unique === true ? { unique: true } : {}),
      ...(options.sparse === true ? { sparse: true } : {})
    }), new AbortController().signal)
  }
}

export class MongoDatabase implements Database {
  readonly kind = 'mongodb' as const
  readonly databaseName: string
  /** The server is FerretDB (a MongoDB-protocol proxy used by the tests), not MongoDB. */
  readonly ferretdb: boolean
  private readonly client: MongoClient
  private readonly db: Db
  private readonly collections = new Map<string, MongoBackedCollection<{ _id: string }>>()
  private closing: Promise<void> | undefined

  private readonly operationTimeoutMs: number
  private readonly server: Reachability
  #down = false
  #pinging: NodeJS.Timeout | undefined

  private constructor (client: MongoClient, databaseName: string, ferretdb: boolean, operationTimeoutMs: number) {
    this.client = client
    this.operationTimeoutMs = operationTimeoutMs
    const self = this
    this.server = {
      get down () { return self.#down },
      lost: () => {
        if (this.#down || this.closing !== undefined) return
        this.#down = true
        this.#ping(0)
      },
      answered: () => { this.#down = false }
    }
    this.databaseName = databaseName
    this.ferretdb = ferretdb
    this.db = client.db(databaseName)
  }

  static async open (options: MongoDatabaseOptions): Promise<MongoDatabase> {
    const databaseName = options.dbName ?? databaseNameFromUrl(options.url) ?? DEFAULT_DATABASE_NAME
    // The driver's default (30 s) is too long to wait for a start-up error; a URL's own setting wins.
    const urlSetsTimeout = /[?&]serverSelectionTimeoutMS=/i.test(options.url)
    const urlSets = (name: string) => new RegExp(`[?&]${name}=`, 'i').test(options.url)
    const client = new MongoClient(options.url, {
      appName: 'lectern',
      ...(urlSetsTimeout && options.serverSelectionTimeoutMs === undefined ? {} : { serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? SERVER_SELECTION_TIMEOUT_MS }),
      ...(urlSets('connectTimeoutMS') ? {} : { connectTimeoutMS: CONNECT_TIMEOUT_MS }),
      ...(urlSets('socketTimeoutMS') ? {} : { socketTimeoutMS: SOCKET_TIMEOUT_MS }),
      // Matches the embedded store, which cannot keep undefined: such fields are left out.
      ignoreUndefined: true
    })
    let buildInfo: Document
    try {
      await client.connect()
      buildInfo = await client.db(databaseName).command({ buildInfo: 1 })
    } catch (err) {
      await client.close().catch(() => {})
      throw new Error(`MONGODB_URL: cannot reach MongoDB at ${redactUrl(options.url)}: ${(err as Error).message}`)
    }
    // FerretDB 1.x runs findAndModify and updates as a read then a whole-document write, so two
    // concurrent claims can both win and concurrent $inc lose counts. Writes are then serialised
    // per collection in this process, which keeps one node correct; MongoDB itself needs nothing.
    const ferretdb = typeof buildInfo.ferretdbVersion === 'string'
    if (ferretdb) {
      options.log?.warn({ ferretdbVersion: buildInfo.ferretdbVersion }, 'MONGODB_URL is FerretDB: its updates are not atomic across processes; run one node against it, or use MongoDB')
    }
    options.log?.info({ database: databaseName, version: buildInfo.version }, 'connected to MongoDB')
    return new MongoDatabase(client, databaseName, ferretdb, options.operationTimeoutMs ?? OPERATION_TIMEOUT_MS)
  }

  collection<T extends { _id: string }> (name: string): Collection<T> {
    let collection = this.collections.get(name)
    if (collection === undefined) {
      collection = new MongoBackedCollection(name, this.db, this.ferretdb, this.operationTimeoutMs, this.server)
      this.collections.set(name, collection)
    }
    return collection as unknown as Collection<T>
  }

  async probe (): Promise<void> {
    if (this.closing !== undefined) throw new Error('The MongoDB connection is closed')
    try {
      // A signal, not timeoutMS: the driver (7.x) ignores timeoutMS.
      await this.db.command({ ping: 1 }, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
    } catch (err) {
      throw unavailable(err) ?? err
    }
    this.server.answered()
    dependencyOutages.database.up()
  }

  /** While the server is down: a ping after delayMs, then one a second until one is answered. */
  #ping (delayMs: number): void {
    clearTimeout(this.#pinging)
    this.#pinging = setTimeout(() => {
      if (!this.#down || this.closing !== undefined) return
      this.db.command({ ping: 1 }, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(() => {
        this.server.answered()
        dependencyOutages.database.up()
      }, (err: unknown) => {
        // An error from the server is an answer too.
        if (err instanceof MongoServerError) this.server.answered()
        else this.#ping(1000)
      })
    }, delayMs)
    this.#pinging.unref()
  }

  /** Drops this database (tests clean up their own). */
  async drop (): Promise<void> {
    await this.db.dropDatabase()
  }

  close (): Promise<void> {
    clearTimeout(this.#pinging)
    this.closing ??= this.client.close()
    return this.closing
  }
}

export function openMongoDatabase (options: MongoDatabaseOptions): Promise<MongoDatabase> {
  return MongoDatabase.open(options)
}
