import { RangeNotSatisfiableError } from '../errors.js'
import type { ByteRange } from './object-store.js'

/**
 * Throws RangeNotSatisfiableError unless range is a well-formed inclusive byte range. Whether
 * it fits the object is the backend's business: a start at or past the end is refused there, an
 * end past the end is clamped, as HTTP does.
 */
export function assertValidRange (range: ByteRange): void {
  const { start, end } = range
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeNotSatisfiableError(`Byte range ${String(start)}-${String(end)} is malformed: start and end must be whole numbers with 0 <= start <= end`)
  }
}
