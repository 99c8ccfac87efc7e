/**
 * A small MongoDB-API collection facade. Repository code is written once against it; two backends
 * implement it: the official mongodb driver (MONGODB_URL) and an embedded file-backed store in
 * DATA_DIR (@seald-io/nedb, which speaks the same query language).
 *
 * Documents carry their own string `_id` (never ObjectId) so both backends agree; an upsert that
 * names no `_id` gets a newId(). Fields set to `undefined` are left out (as the driver's
 * ignoreUndefined does). Dates round-trip as Dates.
 * Filters use the common subset of MongoDB query operators, with MongoDB's meaning on both
 * backends: equality on (dotted) fields (`null` also matches a missing field), array-membership
 * equality (`tags: 'x'`), $eq $ne $gt $gte $lt $lte $in $nin $exists, $regex (a RegExp, or a
 * string with `$options`), field-level $not, and top-level $and $or $nor.
 * Updates use $set, $unset, $inc, $push (a value, or `{ $each: [...] }`) and $pull, where $pull
 * takes a value to remove and not a condition (FerretDB 1.x ignores conditions silently).
 * A unique-index violation, on insert or update, is a DuplicateKeyError.
 * Without a sort, results come in no particular order (nedb: by _id; MongoDB: natural order).
 * Sorting is only defined between values of the same type (the backends order mixed types
 * differently).
 */
export type Filter = Record<string, unknown>
export type Sort = Record<string, 1 | -1>
export type Projection = Record<string, 0 | 1>

export interface Update {
  $set?: Record<string, unknown>
  $unset?: Record<string, '' | 1 | true>
  $inc?: Record<string, number>
  $push?: Record<string, unknown>
  $pull?: Record<string, unknown>
}

export interface FindOptions {
  sort?: Sort
  limit?: number
  skip?: number
  projection?: Projection
}

export interface FindOneAndUpdateOptions {
  sort?: Sort
  upsert?: boolean
  /** Default 'after'. */
  returnDocument?: 'before' | 'after'
}

export interface UpdateResult {
  matchedCount: number
  /** Documents whose content changed (a $set to the current value does not count). */
  modifiedCount: number
  /** 1 when an upsert inserted a document, else 0. */
  upsertedCount: number
}

export interface IndexOptions {
  unique?: boolean
  /** Only documents where the indexed field exists take part (nedb `sparse`, mongo `sparse`). */
  sparse?: boolean
}

export interface Collection<T extends { _id: string }> {
  readonly name: string
  insertOne (doc: T): Promise<void>
  findOne (filter: Filter, options?: { projection?: Projection }): Promise<T | null>
  find (filter: Filter, options?: FindOptions): Promise<T[]>
  updateOne (filter: Filter, update: Update, options?: { upsert?: boolean }): Promise<UpdateResult>
  updateMany (filter: Filter, update: Update): Promise<UpdateResult>
  /**
   * Atomic: of concurrent calls whose filter matches the same document, one updates it and the
   * others see it as updated. MongoDB guarantees this itself; the embedded store, and the
   * FerretDB 1.x that tests use in MongoDB's place, serialise the writes of a collection within
   * the process (so against FerretDB it holds for one process only).
   */
  findOneAndUpdate (filter: Filter, update: Update, options?: FindOneAndUpdateOptions): Promise<T | null>
  deleteOne (filter: Filter): Promise<number>
  deleteMany (filter: Filter): Promise<number>
  countDocuments (filter?: Filter): Promise<number>
  createIndex (fields: Record<string, 1 | -1>, options?: IndexOptions): Promise<void>
}

export interface Database {
  readonly kind: 'embedded' | 'mongodb'
  collection<T extends { _id: string }> (name: string): Collection<T>
  /** For readiness: resolves if the database answers, rejects otherwise. */
  probe (): Promise<void>
  close (): Promise<void>
}
