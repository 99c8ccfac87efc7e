import type { Rendition } from '../src/db/documents.js'

/**
 * The lowest protocol version a master playlist of ours needs. Nothing we write in it is gated by
 * RFC 8216 section 7 (BANDWIDTH, AVERAGE-BANDWIDTH, CODECS, RESOLUTION, FRAME-RATE and
 * EXT-X-INDEPENDENT-SEGMENTS carry no version requirement), so version 1.
 */
export const MASTER_PLAYLIST_VERSION = 1

/** Variants in a fixed order: highest peak bandwidth first, then by name. Pure. */
export function orderVariants (renditions: Rendition[]): Rendition[] {
  return [...renditions].sort((a, b) => b.bandwidth - a.bandwidth || a.name.localeCompare(b.name))
}

/**
 * The master playlist, written from measured figures rather than taken from ffmpeg.
 * URIs are relative (`720p/index.m3u8`) so the playlist works under any prefix. Pure.
 */
export function writeMasterPlaylist (renditions: Rendition[]): string {
  if (renditions.length === 0) throw new RangeError('a master playlist needs at least one rendition')
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${MASTER_PLAYLIST_VERSION}`, '#EXT-X-INDEPENDENT-SEGMENTS']
  for (const r of orderVariants(renditions)) {
    const attributes = [
      `BANDWIDTH=${Math.ceil(r.bandwidth)}`,
      `AVERAGE-BANDWIDTH=${Math.ceil(r.averageBandwidth)}`,
      `CODECS="${r.codecs}"`,
      `RESOLUTION=${r.width}x${r.height}`,
      `FRAME-RATE=${r.frameRate.toFixed(3)}`
    ]
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, `${r.name}/index.m3u8`)
  }
  return lines.join('\n') + '\n'
}
