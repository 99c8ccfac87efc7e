import { STATUS_CODES } from 'node:http'
import type { ErrorBody } from '../error-handler.js'

/** The shape @tus/server sends back when a hook or a store throws it: a status and a body. */
export interface TusError {
  status_code: number
  body: string
}

/**
 * A Lectern error (code, status, message) as @tus/server wants to throw it, with the body
 * already in Lectern's JSON error shape, so a tus client and a script see the same answer as
 * from any other route.
 */
export function tusError (err: { statusCode?: number, code?: string, message: string }): TusError {
  const statusCode = err.statusCode ?? 500
  const body: ErrorBody = {
    statusCode,
    code: err.code ?? 'LECTERN_ERR_INTERNAL',
    error: STATUS_CODES[statusCode] ?? 'Error',
    message: err.message
  }
  return { status_code: statusCode, body: JSON.stringify(body) }
}

/** True for what tusError made, or one of @tus/server's own errors. */
export function isTusError (err: unknown): err is TusError {
  return typeof err === 'object' && err !== null && typeof (err as TusError).status_code === 'number'
}

/**
 * @tus/server's plain-text error bodies, said as a Lectern error body. Some of its statuses are
 * said as what they mean to a client: a lock not had in time is 423 (try again), not 500; an
 * upload of unknown length is a 400 (send Upload-Length), not 501.
 */
export function errorBodyFor (status: number, text: string): ErrorBody {
  const trimmed = text.trim()
  try {
    const parsed = JSON.parse(trimmed) as Partial<ErrorBody>
    if (typeof parsed.code === 'string' && typeof parsed.message === 'string') {
      return { statusCode: status, code: parsed.code, error: STATUS_CODES[status] ?? 'Error', message: parsed.message }
    }
  } catch {}
  const known = TUS_ANSWERS[trimmed]
  if (known !== undefined) {
    const statusCode = known.status ?? status
    return { statusCode, code: known.code ?? TUS_CODES[statusCode] ?? 'LECTERN_ERR_UPLOAD', error: STATUS_CODES[statusCode] ?? 'Error', message: known.message }
  }
  return {
    statusCode: status,
    code: TUS_CODES[status] ?? (status >= 500 ? 'LECTERN_ERR_INTERNAL' : 'LECTERN_ERR_UPLOAD'),
    error: STATUS_CODES[status] ?? 'Error',
    message: status >= 500 && status !== 503 ? 'Something went wrong on our side; it has been logged.' : trimmed
  }
}

const TUS_CODES: Record<number, string> = {
  400: 'LECTERN_ERR_BAD_REQUEST',
  403: 'LECTERN_ERR_BAD_REQUEST',
  404: 'LECTERN_ERR_NOT_FOUND',
  409: 'LECTERN_ERR_UPLOAD_OFFSET',
  410: 'LECTERN_ERR_UPLOAD_EXPIRED',
  412: 'LECTERN_ERR_TUS_VERSION',
  413: 'LECTERN_ERR_PAYLOAD_TOO_LARGE',
  415: 'LECTERN_ERR_UNSUPPORTED_MEDIA',
  423: 'LECTERN_ERR_UPLOAD_LOCKED'
}

// @tus/server's own words, said so that the person reading them knows what to do.
const TUS_ANSWERS: Record<string, { message: string, status?: number, code?: string }> = {
  'Upload-Offset conflict': { message: 'Upload-Offset: is not where this upload stands; ask with HEAD and resume from the Upload-Offset it answers' },
  'The file for this url no longer exists': { message: 'this upload has expired (UPLOAD_EXPIRY_HOURS) and its bytes are removed; start the upload again' },
  'The file for this url was not found': { message: 'no such upload (it may have expired or been cancelled); start the upload again' },
  'Tus-Resumable Required': { message: 'Tus-Resumable: is missing; send Tus-Resumable: 1.0.0 (any tus client does)' },
  "upload's size exceeded": { message: 'the body goes past the Upload-Length declared when the upload was created' },
  'Upload-Offset header required': { message: 'Upload-Offset: is missing; send it with every PATCH', status: 400 },
  'Content-Type header required': { message: 'Content-Type: send application/offset+octet-stream with every PATCH', status: 400 },
  'Upload-Length or Upload-Defer-Length header required': { message: 'Upload-Length: is missing; send the file size when creating the upload' },
  'creation-defer-length extension is not (yet) supported.': { message: 'Upload-Length: is required; uploads of unknown length are not accepted', status: 400 },
  'Cannot terminate an already completed upload': { message: 'this upload is complete and is now a video; delete the video instead (DELETE /api/videos/:id)' },
  'failed to acquire lock before timeout': { message: 'another request is still writing this upload; try again in a few seconds', status: 423 }
}
