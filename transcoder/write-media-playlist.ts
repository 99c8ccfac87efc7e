import { segmentName } from '../src/db/documents.js'

/**
 * A VOD media playlist for segments named segment-00000.ts... Durations are decimal, which needs
 * version 3 (RFC 8216 section 7); nothing else we use needs more. ffmpeg's own playlist says 6
 * because it writes EXT-X-INDEPENDENT-SEGMENTS, which needs no version at all. Pure.
 */
export function writeMediaPlaylist (durations: number[], targetDuration: number): string {
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${targetDuration}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-INDEPENDENT-SEGMENTS'
  ]
  durations.forEach((d, i) => { lines.push(`#EXTINF:${d.toFixed(6)},`, segmentName(i)) })
  lines.push('#EXT-X-ENDLIST')
  return lines.join('\n') + '\n'
}
