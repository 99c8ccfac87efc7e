import type { ObjectInfo } from '../storage/object-store.js'

/** Cache-Control for objects whose key changes whenever their content does (segments, MP4, poster). */
export const IMMUTABLE = 'public, max-age=31536000, immutable'
/** Token-bearing answers are for one viewer: shared caches must not keep them. */
export const IMMUTABLE_PRIVATE = 'private, max-age=31536000, immutable'
/** Playlists live at stable URLs that a re-transcode repoints, so they are kept briefly. */
export const PLAYLIST = 'public, max-age=5'
export const PLAYLIST_PRIVATE = 'private, max-age=5'
/** A playlist that still grows (a video published while it transcodes): players reload it every few seconds. */
export const LIVE_PLAYLIST = 'public, max-age=1'
export const LIVE_PLAYLIST_PRIVATE = 'private, max-age=1'
/** Answers that belong to one viewing session (a playlist carrying its id, an adaptive segment chosen for it). */
export const SESSION = 'private, no-store'

export const CORS_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['access-control-allow-origin', '*'],
  ['access-control-expose-headers', 'Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified, Date, CMSD-Dynamic, CMSD-Static, Lectern-Rendition']
]

/**
 * One object as delivery answers it: its validators and every header value worked out once, so
 * that answering a cached object is a writeHead with a ready array and an end with a Buffer.
 */
export interface ServedObject {
  key: string
  size: number
  etag: string
  lastModified: Date
  contentType: string
  cacheControl: string
  /** Headers every answer about this object carries (validators, caching, CORS, Accept-Ranges), flat name/value pairs. */
  common: string[]
  /** common plus Content-Type and Content-Length: a full 200 answer. */
  full: string[]
  /** full plus one more name/value pair, a scratch array that sendBufferWith() fills per answer. */
  fullAndOne: string[]
}

/**
 * `objectHeaders`: further name/value pairs that describe the object itself and go with every
 * answer about it (CMSD-Static of a media object).
 */
export function servedObject (info: Pick<ObjectInfo, 'key' | 'size' | 'etag' | 'lastModified'>, contentType: string, cacheControl: string, objectHeaders: readonly string[] = []): ServedObject {
  const common = [
    'etag', info.etag,
    'last-modified', info.lastModified.toUTCString(),
    'cache-control', cacheControl,
    'accept-ranges', 'bytes',
    ...objectHeaders
  ]
  for (const [name, value] of CORS_HEADERS) common.push(name, value)
  const full = ['content-type', contentType, 'content-length', String(info.size), ...common]
  return {
    key: info.key,
    size: info.size,
    etag: info.etag,
    lastModified: info.lastModified,
    contentType,
    cacheControl,
    common,
    full,
    fullAndOne: [...full, '', '']
  }
}
