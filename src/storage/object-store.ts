import type { Readable } from 'node:stream'

/** What storage knows about one stored object. */
export interface ObjectInfo {
  key: string
  size: number
  /** Strong validator, quoted as in HTTP (e.g. `"abc123"`). Format differs between backends. */
  etag: string
  lastModified: Date
}

/** An inclusive byte range, as in HTTP: bytes start..end. Callers resolve suffix/open forms first. */
export interface ByteRange {
  start: number
  end: number
}

export interface PutOptions {
  contentType?: string
  signal?: AbortSignal
}

export interface GetOptions {
  /** Exact inclusive range; omitted means the whole object. */
  range?: ByteRange
  signal?: AbortSignal
}

/**
 * Object storage: files under DATA_DIR/objects, or S3. Keys are `/`-separated relative paths
 * (`originals/<id>`, `videos/<id>/<version>/720p/segment-00000.ts`); a key that is empty, absolute,
 * or has `.`/`..` segments or backslashes is refused with InvalidKeyError.
 * A missing object is always an ObjectNotFoundError (src/errors.ts), never a generic error.
 */
export interface ObjectStore {
  readonly kind: 'fs' | 's3'
  /** Streams body into storage. The object becomes visible only when complete; on error or abort nothing is left. */
  put (key: string, body: Readable | Buffer, options?: PutOptions): Promise<ObjectInfo>
  /** A stream of exactly the requested bytes (or the whole object). */
  get (key: string, options?: GetOptions): Promise<Readable>
  head (key: string): Promise<ObjectInfo>
  /** Idempotent: deleting a missing key is not an error. */
  delete (key: string): Promise<void>
  /** Deletes every object whose key starts with prefix; returns how many were deleted. */
  deletePrefix (prefix: string): Promise<number>
  /** Every object whose key starts with prefix, in key order. */
  list (prefix: string): Promise<ObjectInfo[]>
  /** For readiness: resolves if storage answers, rejects otherwise (and once signal aborts). */
  probe (signal?: AbortSignal): Promise<void>
  close (): Promise<void>
}
