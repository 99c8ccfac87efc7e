import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import { pipeline, type Readable } from 'node:stream'
import type { ByteRange } from '../storage/object-store.js'
import { resolveRange, type ResolvedRange } from './resolve-range.js'
import type { ServedObject } from './served-object.js'
import { ChunkedBody, type ChunkSource } from './chunked-body.js'

/** Whether a request carries anything that could make the answer other than a plain 200. */
export function isPlainRequest (req: IncomingMessage): boolean {
  const h = req.headers
  return h.range === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined &&
    h['if-match'] === undefined && h['if-unmodified-since'] === undefined
}

function one (v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v
}

export function resolveFor (req: IncomingMessage, obj: ServedObject): ResolvedRange {
  const h = req.headers
  return resolveRange(obj, {
    method: req.method ?? 'GET',
    range: h.range,
    ifRange: one(h['if-range']),
    ifMatch: h['if-match'],
    ifNoneMatch: h['if-none-match'],
    ifModifiedSince: h['if-modified-since'],
    ifUnmodifiedSince: h['if-unmodified-since']
  })
}

/** `headers` and then `extra`, as a new array (a copy and pushes: cheaper than concat on a hot path). */
function withExtra (headers: string[], extra: readonly string[]): string[] {
  const all = headers.slice()
  for (const x of extra) all.push(x)
  return all
}

/**
 * Answers with an object held whole in memory. The plain 200 (the common case for segments) is
 * one writeHead with the precomputed header array and one end with the cached Buffer.
 * Returns the body bytes handed to the socket (for the delivery counters). `plain`: whether the
 * request is a plain one (isPlainRequest), when the caller knows already.
 */
export function sendBuffer (req: IncomingMessage, res: ServerResponse, obj: ServedObject, body: Buffer, extra?: string[], plain = isPlainRequest(req)): number {
  if (plain) return sendPlain(req, res, extra === undefined ? obj.full : withExtra(obj.full, extra), body)
  const resolved = resolveFor(req, obj)
  if (!writeHead(res, obj, resolved, extra) || req.method === 'HEAD') {
    res.end()
    return 0
  }
  if (resolved.multipart === undefined) {
    const r = resolved.ranges[0]
    res.end(r === undefined ? undefined : body.subarray(r.start, r.end + 1))
    return r === undefined ? 0 : r.end - r.start + 1
  }
  let sent = 0
  for (const part of resolved.multipart.parts) {
    res.write(part.head)
    res.write(body.subarray(part.range.start, part.range.end + 1))
    sent += part.range.end - part.range.start + 1
  }
  res.end(resolved.multipart.tail)
  return sent
}

/**
 * sendBuffer() with one more header field (a session's CMSD-Dynamic, on the fast path). The plain
 * 200 writes it through the object's scratch array, filled just before writeHead() reads it (which
 * it does at once, keeping nothing): no header array is made per answer.
 */
export function sendBufferWith (req: IncomingMessage, res: ServerResponse, obj: ServedObject, body: Buffer, name: string, value: string, plain = isPlainRequest(req)): number {
  if (!plain) return sendBuffer(req, res, obj, body, [name, value], false)
  const headers = obj.fullAndOne
  headers[headers.length - 2] = name
  headers[headers.length - 1] = value
  return sendPlain(req, res, headers, body)
}

/** The plain 200 with `headers`: one writeHead and one end with the Buffer (none for HEAD). */
function sendPlain (req: IncomingMessage, res: ServerResponse, headers: string[], body: Buffer): number {
  res.writeHead(200, headers)
  if (req.method === 'HEAD') {
    res.end()
    return 0
  }
  res.end(body)
  return body.byteLength
}

export interface ChunkedOptions {
  source: ChunkSource
  /** Chunk n if it is in memory, without starting a fill. */
  peek: (index: number) => Buffer | undefined
  chunkSize: number
  /**
   * When set, a single range that is not in memory is piped straight from storage instead of
   * being filled into chunks (the cache cannot keep chunks, so a fill would only copy).
   */
  passThrough?: ((range: ByteRange) => Promise<Readable>) | undefined
  onError: (err: Error) => void
  /** Told of the body bytes taken from chunk `index` (held or being filled), as they are pushed. */
  onPiece?: ((index: number, bytes: number) => void) | undefined
  /** Told of the bytes of a range piped straight from storage, once the response has finished. */
  onPassThrough?: ((bytes: number) => void) | undefined
}

/**
 * Answers with an object read through its cached chunks. A range inside one chunk that is in
 * memory is answered like a Buffer; anything else streams chunk by chunk with backpressure, and a
 * client that goes away destroys the body so no further chunk is read for it.
 * When the cache cannot keep chunks, a single-range miss is piped from storage instead.
 */
export function sendChunked (req: IncomingMessage, res: ServerResponse, obj: ServedObject, options: ChunkedOptions): void {
  const { source, chunkSize, onError } = options
  const resolved = isPlainRequest(req) ? undefined : resolveFor(req, obj)
  if (resolved !== undefined) {
    if (!writeHead(res, obj, resolved) || req.method === 'HEAD') {
      res.end()
      return
    }
  } else {
    res.writeHead(200, obj.full)
    if (req.method === 'HEAD') {
      res.end()
      return
    }
  }
  const ranges = resolved?.ranges ?? (obj.size > 0 ? [{ start: 0, end: obj.size - 1 }] : [])
  if (ranges.length === 0) {
    res.end()
    return
  }
  const single = ranges.length === 1 ? ranges[0]! : undefined
  if (single !== undefined && Math.floor(single.start / chunkSize) === Math.floor(single.end / chunkSize)) {
    const n = Math.floor(single.start / chunkSize)
    const chunk = options.peek(n)
    if (chunk !== undefined) {
      const offset = n * chunkSize
      res.end(chunk.subarray(single.start - offset, single.end - offset + 1))
      options.onPiece?.(n, single.end - single.start + 1)
      return
    }
  }
  if (single !== undefined && options.passThrough !== undefined) {
    const counted = options.onPassThrough
    if (counted !== undefined) res.once('finish', () => counted(single.end - single.start + 1))
    options.passThrough(single).then((stream) => {
      // pipeline destroys the storage stream as soon as the client goes away.
      pipeline(stream, res, (err) => {
        if (err !== undefined && err !== null && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') onError(err)
      })
    }, (err: Error) => {
      // The status line is out already: all that is left is to cut the response short.
      res.destroy(err)
      onError(err)
    })
    return
  }
  const body = new ChunkedBody({ size: obj.size, ranges, multipart: resolved?.multipart, source, chunkSize, onPiece: options.onPiece })
  pipeline(body, res, (err) => {
    if (err !== undefined && err !== null && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') onError(err)
  })
}

/** Writes the status line and headers for a resolution; false when the answer has no body. */
function writeHead (res: ServerResponse, obj: ServedObject, resolved: ResolvedRange, extra: string[] = []): boolean {
  switch (resolved.status) {
    case 200:
      res.writeHead(200, extra.length === 0 ? obj.full : obj.full.concat(extra))
      return true
    case 206:
      res.writeHead(206, [
        'content-type', resolved.headers['content-type'] ?? obj.contentType,
        'content-length', resolved.headers['content-length']!,
        ...(resolved.headers['content-range'] !== undefined ? ['content-range', resolved.headers['content-range']] : []),
        ...obj.common,
        ...extra
      ])
      return true
    case 304:
      res.writeHead(304, extra.length === 0 ? obj.common : obj.common.concat(extra))
      return false
    case 412:
      writeError(res, obj, 412, 'LECTERN_ERR_PRECONDITION_FAILED', `The object no longer matches If-Match / If-Unmodified-Since (its ETag is ${obj.etag})`)
      return false
    case 416:
      writeError(res, obj, 416, 'LECTERN_ERR_RANGE_NOT_SATISFIABLE', `No byte of the requested range exists: the object has ${obj.size} bytes (valid offsets 0-${Math.max(0, obj.size - 1)})`,
        ['content-range', resolved.headers['content-range']!])
      return false
  }
}

function writeError (res: ServerResponse, obj: ServedObject, status: number, code: string, message: string, extra: string[] = []): void {
  const body = JSON.stringify({ statusCode: status, code, error: STATUS_CODES[status], message })
  res.writeHead(status, [
    'content-type', 'application/json; charset=utf-8',
    'content-length', String(Buffer.byteLength(body)),
    ...extra,
    ...obj.common
  ])
  res.write(body)
}
