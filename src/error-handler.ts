import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { unreachableReason } from './errors.js'

export interface ErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
}

const HIDDEN_5XX_MESSAGE = 'Something went wrong on our side; it has been logged.'
const UNREACHABLE_MESSAGE = 'A service Lectern depends on is unreachable right now; try again in a moment'
/** Seconds a client is asked to wait before trying again after a 503. */
const RETRY_AFTER_S = '5'

/**
 * The one root error handler: every error becomes { statusCode, code, error, message }.
 * Validation errors name the field; 5xx bodies never carry internals (503s raised on purpose by
 * Lectern keep their message, since it tells the user which dependency is unavailable).
 */
export function errorHandler (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // A client that went away mid-request (a dropped upload, a closed tab, a stalled body cut by the
  // idle timeout) is an expected event: one info line, no stack, nothing to answer.
  if (request.raw.destroyed && (err.code === 'ECONNRESET' || err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.message === 'aborted')) {
    request.log.info({ code: err.code, method: request.method, url: request.url.split('?')[0] }, 'client went away mid-request')
    reply.raw.destroy()
    return
  }
  let statusCode = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  let code = typeof err.code === 'string' && err.code !== '' ? err.code : 'LECTERN_ERR_INTERNAL'
  let message = err.message
  if (hasZodFastifySchemaValidationErrors(err)) {
    statusCode = 400
    code = 'LECTERN_ERR_VALIDATION'
    message = err.validation.map((v) => {
      const where = v.instancePath.replace(/^\//, '').replace(/\//g, '.')
      return `${err.validationContext ?? 'request'}${where !== '' ? '.' + where : ''}: ${v.message ?? 'is invalid'}`
    }).join('; ')
  }
  // The stores raise typed 503s when their backend is unreachable; anything else that failed for
  // that reason (a client Lectern did not wrap) is still a 503 a user can act on, not a 500.
  if (statusCode === 500 && unreachableReason(err) !== undefined) {
    statusCode = 503
    code = 'LECTERN_ERR_DEPENDENCY_UNAVAILABLE'
    message = UNREACHABLE_MESSAGE
  }
  if (statusCode >= 500) {
    request.log.error({ err }, 'request failed')
    const deliberate = statusCode === 503 && code.startsWith('LECTERN_ERR_')
    if (!deliberate) {
      message = HIDDEN_5XX_MESSAGE
      code = 'LECTERN_ERR_INTERNAL'
    }
  } else {
    request.log.info({ code, statusCode, message }, 'request refused')
  }
  // A response that already started streaming cannot carry an error body.
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy()
    return
  }
  const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
  if (statusCode === 503) reply.header('retry-after', RETRY_AFTER_S)
  reply.code(statusCode).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body)
}

const MAX_ECHO = 200

function bounded (text: string): string {
  return text.length <= MAX_ECHO ? text : `${text.slice(0, MAX_ECHO)}... (${text.length} characters)`
}

export function notFoundHandler (request: FastifyRequest, reply: FastifyReply): void {
  const body: ErrorBody = {
    statusCode: 404,
    code: 'LECTERN_ERR_ROUTE_NOT_FOUND',
    error: 'Not Found',
    // The path is repeated for the reader, but never more than a bounded piece of it.
    message: `No route ${request.method.slice(0, 20)} ${bounded(request.url.split('?')[0] ?? '')}`
  }
  reply.code(404).header('cache-control', 'no-store').send(body)
}
