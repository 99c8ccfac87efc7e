import { randomBytes } from 'node:crypto'
import type { ByteRange } from '../storage/object-store.js'

/** What the server knows about the representation it is about to send. */
export interface Representation {
  size: number
  /** Strong validator, quoted (`"abc"`). */
  etag: string
  lastModified: Date
  /** Content type of the bytes; used for the parts of a multipart/byteranges answer. */
  contentType: string
}

/** The request headers that decide the status (lower-case names, as node:http gives them). */
export interface ConditionalRequest {
  method: string
  range?: string | undefined
  ifRange?: string | undefined
  ifMatch?: string | undefined
  ifNoneMatch?: string | undefined
  ifModifiedSince?: string | undefined
  ifUnmodifiedSince?: string | undefined
}

/** One part of a multipart/byteranges body: its header block, then the bytes of range. */
export interface BytePart {
  range: ByteRange
  head: string
}

export interface ResolvedRange {
  status: 200 | 206 | 304 | 412 | 416
  /**
   * Headers that depend on the resolution (content-length, content-range, and the multipart
   * content-type); the caller adds its validators, content type and caching headers.
   */
  headers: Record<string, string>
  /** Bytes to send, in order; empty when no body (304, 412, 416, or an empty representation). */
  ranges: ByteRange[]
  /** Set for a multi-range 206: part headers to write before each range, and the closing delimiter. */
  multipart?: { parts: BytePart[], tail: string }
}

export interface ResolveOptions {
  /** More ranges than this (after merging) and the Range header is ignored: a 200 costs less than a fragmented 206. */
  maxRanges?: number
  /** Ranges closer than this are merged into one part. */
  coalesceGap?: number
  /** Boundary for multipart answers; a random one by default. */
  boundary?: () => string
}

const DEFAULT_MAX_RANGES = 32
const DEFAULT_COALESCE_GAP = 80
// Longer digit strings than this cannot be an offset into any file we hold (2^53 has 16 digits).
const MAX_SAFE_DIGITS = 15

/**
 * RFC 9110 conditional and range handling for one byte representation, modelled on @fastify/send:
 * the order of evaluation is section 13.2.2 (If-Match, If-Unmodified-Since, If-None-Match,
 * If-Modified-Since, then If-Range and Range). HEAD is treated like GET, so that a HEAD answers with
 * the headers the same GET would get.
 */
export function resolveRange (rep: Representation, req: ConditionalRequest, options: ResolveOptions = {}): ResolvedRange {
  const isGetOrHead = req.method === 'GET' || req.method === 'HEAD'

  if (req.ifMatch !== undefined) {
    if (!matchesAny(req.ifMatch, rep.etag, true)) return { status: 412, headers: {}, ranges: [] }
  } else if (req.ifUnmodifiedSince !== undefined) {
    const since = parseHttpDate(req.ifUnmodifiedSince)
    if (since !== undefined && seconds(rep.lastModified) > since) return { status: 412, headers: {}, ranges: [] }
  }

  if (req.ifNoneMatch !== undefined) {
    if (matchesAny(req.ifNoneMatch, rep.etag, false)) {
      return { status: isGetOrHead ? 304 : 412, headers: {}, ranges: [] }
    }
  } else if (req.ifModifiedSince !== undefined && isGetOrHead) {
    const since = parseHttpDate(req.ifModifiedSince)
    if (since !== undefined && seconds(rep.lastModified) <= since) return { status: 304, headers: {}, ranges: [] }
  }

  const full: ResolvedRange = {
    status: 200,
    headers: { 'content-length': String(rep.size) },
    ranges: rep.size > 0 ? [{ start: 0, end: rep.size - 1 }] : []
  }
  if (req.range === undefined || !isGetOrHead) return full
  if (req.ifRange !== undefined && !ifRangeHolds(req.ifRange, rep)) return full

  const parsed = parseRangeHeader(req.range, rep.size)
  if (parsed === undefined) return full
  if (parsed.length === 0) {
    return { status: 416, headers: { 'content-range': `bytes */${rep.size}` }, ranges: [] }
  }
  const ranges = coalesce(parsed, options.coalesceGap ?? DEFAULT_COALESCE_GAP)
  if (ranges.length > (options.maxRanges ?? DEFAULT_MAX_RANGES)) return full

  if (ranges.length === 1) {
    const r = ranges[0]!
    return {
      status: 206,
      headers: {
        'content-length': String(r.end - r.start + 1),
        'content-range': `bytes ${r.start}-${r.end}/${rep.size}`
      },
      ranges
    }
  }

  const boundary = (options.boundary ?? randomBoundary)()
  let length = 0
  const parts = ranges.map((range, i) => {
    // The CRLF that ends the previous part's bytes belongs to this part's delimiter.
    const head = `${i === 0 ? '' : '\r\n'}--${boundary}\r\ncontent-type: ${rep.contentType}\r\ncontent-range: bytes ${range.start}-${range.end}/${rep.size}\r\n\r\n`
    length += Buffer.byteLength(head) + range.end - range.start + 1
    return { range, head }
  })
  const tail = `\r\n--${boundary}--\r\n`
  length += Buffer.byteLength(tail)
  return {
    status: 206,
    headers: {
      'content-type': `multipart/byteranges; boundary=${boundary}`,
      'content-length': String(length)
    },
    ranges,
    multipart: { parts, tail }
  }
}

function randomBoundary (): string {
  return 'lectern-' + randomBytes(12).toString('hex')
}

/**
 * Parses `bytes=<range-set>` against a size. Returns undefined when the header is to be ignored
 * (not the bytes unit, or syntactically invalid), an empty array when no range is satisfiable,
 * and otherwise the satisfiable ranges clamped to the representation, in request order.
 */
export function parseRangeHeader (header: string, size: number): ByteRange[] | undefined {
  const eq = header.indexOf('=')
  if (eq === -1 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return undefined
  const specs = header.slice(eq + 1).split(',')
  const ranges: ByteRange[] = []
  let seen = 0
  for (const raw of specs) {
    const spec = raw.trim()
    // RFC 9110 5.6.1: empty list elements are allowed and ignored.
    if (spec === '') continue
    seen++
    const m = /^(\d*)-(\d*)$/.exec(spec)
    if (m === null) return undefined
    const first = m[1]!
    const last = m[2]!
    if (first === '') {
      if (last === '') return undefined
      const suffix = toOffset(last)
      if (suffix === 0 || size === 0) continue
      ranges.push({ start: Math.max(0, size - suffix), end: size - 1 })
      continue
    }
    const start = toOffset(first)
    const end = last === '' ? Infinity : toOffset(last)
    if (end < start) return undefined
    if (start >= size) continue
    ranges.push({ start, end: Math.min(end, size - 1) })
  }
  if (seen === 0) return undefined
  return ranges
}

/** A decimal string as an offset; anything too long to be a real offset becomes Infinity, never a lossy float. */
function toOffset (digits: string): number {
  const trimmed = digits.replace(/^0+(?=\d)/, '')
  return trimmed.length > MAX_SAFE_DIGITS ? Infinity : Number(trimmed)
}

/** Sorts and merges overlapping or nearly adjacent ranges, so overlapping requests cannot multiply the body. */
function coalesce (ranges: ByteRange[], gap: number): ByteRange[] {
  if (ranges.length === 1) return ranges
  const sorted = ranges.map((r) => ({ start: r.start, end: r.end })).sort((a, b) => a.start - b.start)
  const out: ByteRange[] = [sorted[0]!]
  for (let i = 1; i < sorted.length; i++) {
    const r = sorted[i]!
    const prev = out[out.length - 1]!
    if (r.start <= prev.end + 1 + gap) prev.end = Math.max(prev.end, r.end)
    else out.push(r)
  }
  return out
}

/** If-Range holds for a strong ETag equal to ours, or a date equal to our Last-Modified. A weak tag never holds. */
function ifRangeHolds (value: string, rep: Representation): boolean {
  const v = value.trim()
  if (v.startsWith('W/')) return false
  if (v.startsWith('"')) return v === rep.etag && !rep.etag.startsWith('W/')
  const date = parseHttpDate(v)
  return date !== undefined && date === seconds(rep.lastModified)
}

/**
 * Whether an If-Match / If-None-Match list matches etag: `*` matches anything, otherwise the
 * comparison is strong (If-Match) or weak (If-None-Match). Entity tags may contain commas, so the
 * list is tokenised on quotes rather than split on commas.
 */
export function matchesAny (list: string, etag: string, strong: boolean): boolean {
  const trimmed = list.trim()
  if (trimmed === '*') return true
  const ours = opaque(etag)
  if (strong && etag.startsWith('W/')) return false
  const re = /(W\/)?"([^"]*)"/g
  let m: RegExpExecArray | null
  while ((m = re.exec(trimmed)) !== null) {
    if (strong && m[1] !== undefined) continue
    if (m[2] === ours) return true
  }
  return false
}

function opaque (etag: string): string {
  const s = etag.startsWith('W/') ? etag.slice(2) : etag
  return s.startsWith('"') && s.endsWith('"') && s.length >= 2 ? s.slice(1, -1) : s
}

/** Seconds since the epoch of an HTTP-date, or undefined if it is not one. */
function parseHttpDate (value: string): number | undefined {
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000)
}

function seconds (date: Date): number {
  return Math.floor(date.getTime() / 1000)
}
