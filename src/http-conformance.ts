import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { BadRequestError } from './errors.js'
import { errorHandler, type ErrorBody } from './error-handler.js'
import { DUPLICATE_HOST, requestHeaderFlags } from './request-header-flags.js'

// What Node's parser and Fastify's router answer on their own, made to follow RFC 9110/9112 and
// Lectern's error shape: every answer has a Date and a JSON body { statusCode, code, error, message }
// whose status, error and message agree, and no error body repeats an unbounded piece of the request.

/** Whether a request carries more than one Host field (RFC 9112 section 3.2: answer 400). Node keeps the first. */
export function hasDuplicateHost (req: IncomingMessage): boolean {
  return (requestHeaderFlags(req.rawHeaders) & DUPLICATE_HOST) !== 0
}

/** Root onRequest hook: a request with two Host fields is refused before anything else. */
export async function refuseDuplicateHost (request: FastifyRequest): Promise<void> {
  if (hasDuplicateHost(request.raw)) throw new BadRequestError('The request has more than one Host header field (RFC 9112, section 3.2)')
}

function body (statusCode: number, code: string, message: string): string {
  const b: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
  return JSON.stringify(b)
}

/** Fastify's router errors (a path parameter too long, a malformed escape) in Lectern's shape. */
export function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply.code(414).header('cache-control', 'no-store').type('application/json; charset=utf-8')
      .send(body(414, 'LECTERN_ERR_URI_TOO_LONG', 'A part of the URL path is longer than 100 characters; no Lectern route takes one that long'))
    return
  }
  if (err.code === 'FST_ERR_BAD_URL') {
    reply.code(400).header('cache-control', 'no-store').type('application/json; charset=utf-8')
      .send(body(400, 'LECTERN_ERR_BAD_URL', 'The URL path has a malformed percent-escape'))
    return
  }
  errorHandler(err, request, reply)
}

const PARSER_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'LECTERN_ERR_HEADERS_TOO_LARGE', 'The request headers are larger than this server accepts'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'LECTERN_ERR_REQUEST_TIMEOUT', 'The request did not arrive in time'],
  HPE_URI_TOO_LONG: [414, 'LECTERN_ERR_URI_TOO_LONG', 'The request target is longer than this server accepts']
}

/**
 * Requests Node's parser refuses (bad syntax, whitespace before a field's colon, oversized
 * headers): a complete answer with Date and a JSON body, then the connection is closed.
 */
export function clientErrorHandler (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] = PARSER_ERRORS[err.code ?? ''] ?? [400, 'LECTERN_ERR_BAD_REQUEST', 'The request is not valid HTTP/1.1 (RFC 9112); it was not read further']
  const text = body(status, code, message)
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${text}`)
  }
  socket.destroy()
}
