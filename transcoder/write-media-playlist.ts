import { segmentName } from '../src/db/documents.js'

/**
 * A media playlist for segments named segment-00000.ts... Durations are decimal, which needs
 * version 3 (RFC 8216 section 7); nothing else we use needs more. ffmpeg's own playlist says 6
 * because it writes EXT-X-INDEPENDENT-SEGMENTS, which needs no version at all. An EVENT playlist (a
 * job still running) has no EXT-X-ENDLIST: players reload it and append what is new. Pure.
 */
export function writeMediaPlaylist (durations: number[], targetDuration: number, type: 'VOD' | 'EVENT' = 'VOD'): string {
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${targetDuration}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    `#EXT-X-PLAYLIST-TYPE:${type}`,
    '#EXT-X-INDEPENDENT-SEGMENTS'
  ]
  durations.forEach((d, i) => { lines.push(`#EXTINF:${d.toFixed(6)},`, segmentName(i)) })
  if (type === 'VOD') lines.push('#EXT-X-ENDLIST')
  return lines.join('\n') + '\n'
}
