/** How many leading bytes sniffMedia wants to see (fewer is fine for a shorter file). */
export const SNIFF_BYTES = 512

export type SniffResult = { ok: true } | { ok: false, detected: string }

// Formats that are certainly not video, by their magic numbers. ffprobe in the transcoder is the
// real gate; this only turns the common mistakes (a PDF, a slide image, a text file) into an
// immediate 415 instead of a multi-gigabyte upload that fails minutes later.
const NOT_VIDEO: Array<[string, number[], number?]> = [
  ['a PDF document', [0x25, 0x50, 0x44, 0x46, 0x2d]],
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['a ZIP archive (or an Office document)', [0x50, 0x4b, 0x03, 0x04]],
  ['a gzip archive', [0x1f, 0x8b]],
  ['a 7z archive', [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]],
  ['a RAR archive', [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07]],
  ['an executable', [0x7f, 0x45, 0x4c, 0x46]],
  ['an executable', [0x4d, 0x5a]],
  ['an OLE document (old Office format)', [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]],
  ['a WAV audio file', [0x57, 0x41, 0x56, 0x45], 8],
  ['a WebP image', [0x57, 0x45, 0x42, 0x50], 8],
  ['an SQLite database', [0x53, 0x51, 0x4c, 0x69, 0x74, 0x65, 0x20, 0x66]]
]

function startsWith (head: Buffer, magic: number[], at = 0): boolean {
  if (head.length < at + magic.length) return false
  return magic.every((b, i) => head[at + i] === b)
}

/**
 * Text: every byte is printable ASCII, whitespace or part of UTF-8. Every video container has
 * binary bytes (box sizes, sync words) in its first bytes; text would also include playlists and
 * ffconcat scripts, which must never reach ffmpeg as an upload since they point at other files.
 */
function looksLikeText (head: Buffer): boolean {
  if (head.length === 0) return false
  for (const b of head) {
    if (b === 0x09 || b === 0x0a || b === 0x0d) continue
    if (b < 0x20 || b === 0x7f) return false
  }
  // Bytes >= 0x80 must form valid UTF-8 (a cut-off final character is fine).
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, lastCompleteUtf8(head)))
    return true
  } catch {
    return false
  }
}

function lastCompleteUtf8 (head: Buffer): number {
  let end = head.length
  for (let i = head.length - 1; i >= Math.max(0, head.length - 4); i--) {
    const b = head[i]!
    if ((b & 0xc0) === 0x80) continue
    if (b >= 0xc0) end = i
    break
  }
  return end
}

/** Refuses the first bytes of an upload that are certainly not a media container. */
export function sniffMedia (head: Buffer): SniffResult {
  for (const [detected, magic, at] of NOT_VIDEO) {
    if (startsWith(head, magic, at)) return { ok: false, detected }
  }
  if (looksLikeText(head)) return { ok: false, detected: 'text' }
  return { ok: true }
}
