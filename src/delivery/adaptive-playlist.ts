/**
 * The server-side adaptive media playlist: a rendition's media playlist (all renditions of a
 * video share segment boundaries) with each segment URI replaced by a rendition-agnostic one, and
 * only the first `count` segments kept (the number every rendition has). Tags other than a
 * dropped segment's own are kept. Pure.
 */
export function adaptivePlaylist (media: string, count: number, segmentUri: (index: number) => string): string {
  const eol = media.includes('\r\n') ? '\r\n' : '\n'
  const out: string[] = []
  let pending: string[] = []
  let index = 0
  for (const line of media.split(/\r?\n/)) {
    if (line.startsWith('#')) {
      if (line === '#EXT-X-ENDLIST') {
        out.push(...pending.filter((l) => !isSegmentTag(l)))
        pending = []
        out.push(line)
      } else if (index === 0 && !isSegmentTag(line) && pending.length === 0) {
        out.push(line)
      } else {
        pending.push(line)
      }
      continue
    }
    if (line.trim() === '') continue
    if (index < count) out.push(...pending, segmentUri(index))
    pending = []
    index++
  }
  out.push(...pending.filter((l) => !isSegmentTag(l)))
  return out.join(eol) + eol
}

/** Tags that belong to the segment after them (RFC 8216 4.3.2). */
function isSegmentTag (line: string): boolean {
  return /^#EXT(INF|-X-BYTERANGE|-X-DISCONTINUITY|-X-KEY|-X-MAP|-X-PROGRAM-DATE-TIME|-X-DATERANGE|-X-GAP|-X-BITRATE):?/.test(line)
}
