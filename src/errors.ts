import createError from '@fastify/error'

// Errors are values with codes. The root error handler (src/app.ts) maps them to
// { statusCode, code, error, message }; 5xx bodies never carry internals.

export const NotFoundError = createError<[string]>('LECTERN_ERR_NOT_FOUND', '%s', 404)
export const ObjectNotFoundError = createError<[string]>('LECTERN_ERR_OBJECT_NOT_FOUND', 'No object at key "%s"', 404)
export const InvalidKeyError = createError<[string, string]>('LECTERN_ERR_INVALID_KEY', 'Invalid object key "%s": %s', 400)
export const DuplicateKeyError = createError<[string]>('LECTERN_ERR_DUPLICATE', '%s', 409)
export const ConflictError = createError<[string]>('LECTERN_ERR_CONFLICT', '%s', 409)
export const BadRequestError = createError<[string]>('LECTERN_ERR_BAD_REQUEST', '%s', 400)
export const UnauthorizedError = createError<[string]>('LECTERN_ERR_UNAUTHORIZED', '%s', 401)
export const ForbiddenError = createError<[string]>('LECTERN_ERR_FORBIDDEN', '%s', 403)
export const PayloadTooLargeError = createError<[string]>('LECTERN_ERR_PAYLOAD_TOO_LARGE', '%s', 413)
export const UnsupportedMediaError = createError<[string]>('LECTERN_ERR_UNSUPPORTED_MEDIA', '%s', 415)
export const TooManyRequestsError = createError<[string]>('LECTERN_ERR_RATE_LIMITED', '%s', 429)
export const RangeNotSatisfiableError = createError<[string]>('LECTERN_ERR_RANGE_NOT_SATISFIABLE', '%s', 416)
export const DependencyUnavailableError = createError<[string]>('LECTERN_ERR_DEPENDENCY_UNAVAILABLE', '%s', 503)
// What a user reads while a dependency is away: which one, and that it is worth trying again.
// Never the host, port or driver message (they are in the log, with the cause).
export const StorageUnavailableError = createError<[{ cause: unknown }?]>('LECTERN_ERR_STORAGE_UNAVAILABLE',
  'The video storage is unreachable right now; try again in a moment', 503)
export const MetadataStoreUnavailableError = createError<[{ cause: unknown }?]>('LECTERN_ERR_DATABASE_UNAVAILABLE',
  'The metadata store is unreachable right now; try again in a moment', 503)

/** True for the typed not-found of an ObjectStore, whichever backend threw it. */
export function isObjectNotFound (err: unknown): boolean {
  return err instanceof ObjectNotFoundError
}

/** True for the typed duplicate-key conflict of a Collection, whichever backend threw it. */
export function isDuplicateKey (err: unknown): boolean {
  return err instanceof DuplicateKeyError
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ECONNABORTED: 'connection reset',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'name not resolved',
  EAI_AGAIN: 'name not resolved'
}
const DRIVER_NAMES: Record<string, string> = {
  // The MongoDB driver's: no server could be selected in serverSelectionTimeoutMS, or the
  // connection broke or timed out mid-operation.
  MongoServerSelectionError: 'no server answered',
  MongoNetworkError: 'connection lost',
  MongoNetworkTimeoutError: 'timed out',
  MongoPoolClearedError: 'connection lost',
  MongoOperationTimeoutError: 'timed out',
  // The AWS SDK's (connection, or socket idle past its timeout).
  TimeoutError: 'timed out'
}

/**
 * Why err means its dependency could not be reached (refused, reset, timed out, no server to
 * select), in a few words that name no host or port; undefined for any other error. The one
 * classification of "unreachable": the stores use it to raise StorageUnavailableError or
 * MetadataStoreUnavailableError and to record outages, and the error handler as a last resort.
 */
export function unreachableReason (err: unknown): string | undefined {
  let e = err as { code?: unknown, name?: unknown, cause?: unknown, reason?: unknown } | undefined
  for (let depth = 0; e !== undefined && e !== null && typeof e === 'object' && depth < 5; depth++) {
    if (typeof e.code === 'string' && NETWORK_CODES[e.code] !== undefined) return NETWORK_CODES[e.code]
    if (typeof e.name === 'string' && DRIVER_NAMES[e.name] !== undefined) return DRIVER_NAMES[e.name]
    e = e.cause as typeof e
  }
  return undefined
}

/** True for the 503 a store raises while its backend is unreachable. */
export function isDependencyUnavailable (err: unknown): boolean {
  return err instanceof StorageUnavailableError || err instanceof MetadataStoreUnavailableError
}
