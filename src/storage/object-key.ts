import { InvalidKeyError } from '../errors.js'

/** S3 caps keys at 1024 UTF-8 bytes; the same cap keeps fs paths well under PATH_MAX. */
export const MAX_KEY_BYTES = 1024
/** Most filesystems cap one path component at 255 bytes. */
export const MAX_SEGMENT_BYTES = 255

// C0 controls, DEL and C1 controls: invisible in logs, and NUL truncates paths in syscalls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

function describe (key: string): string {
  // Keep the message one readable line even when the key itself is the problem.
  const shown = key.length > 80 ? key.slice(0, 80) + '...' : key
  // eslint-disable-next-line no-control-regex
  return shown.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
}

function problemWith (key: string, allowTrailingSlash: boolean): string | undefined {
  if (typeof key !== 'string') return 'must be a string'
  if (key === '') return 'must not be empty'
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `must be at most ${MAX_KEY_BYTES} bytes`
  if (CONTROL.test(key)) return 'must not contain control characters'
  if (key.includes('\\')) return 'must not contain backslashes; separate segments with "/"'
  if (key.startsWith('/')) return 'must be relative, not start with "/"'
  const body = allowTrailingSlash && key.endsWith('/') ? key.slice(0, -1) : key
  for (const segment of body.split('/')) {
    if (segment === '') return 'must not contain empty segments ("//" or a trailing "/")'
    if (segment === '.' || segment === '..') return 'must not contain "." or ".." segments'
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `segments must be at most ${MAX_SEGMENT_BYTES} bytes`
  }
  return undefined
}

/**
 * Throws InvalidKeyError unless key is a safe relative `/`-separated path: one that maps to the
 * same place in every backend and can never leave the storage root however it is joined.
 */
export function assertValidKey (key: string): void {
  const problem = problemWith(key, false)
  if (problem !== undefined) throw new InvalidKeyError(describe(String(key)), problem)
}

/**
 * A prefix is any leading part of a valid key: empty (everything), whole segments with a
 * trailing `/`, or ending inside a segment (`videos/ab` matches `videos/abc/...`).
 */
export function assertValidPrefix (prefix: string): void {
  if (prefix === '') return
  const problem = problemWith(prefix, true)
  if (problem !== undefined) throw new InvalidKeyError(describe(String(prefix)), problem)
}

/** Key order as S3 lists it: by UTF-8 bytes, which is code point order (not UTF-16 unit order). */
export function compareKeys (a: string, b: string): number {
  if (a === b) return 0
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
