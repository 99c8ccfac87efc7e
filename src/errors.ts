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

/** True for the typed not-found of an ObjectStore, whichever backend threw it. */
export function isObjectNotFound (err: unknown): boolean {
  return err instanceof ObjectNotFoundError
}

/** True for the typed duplicate-key conflict of a Collection, whichever backend threw it. */
export function isDuplicateKey (err: unknown): boolean {
  return err instanceof DuplicateKeyError
}
