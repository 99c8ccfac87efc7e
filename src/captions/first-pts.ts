const PACKET = 188

/**
 * The earliest presentation timestamp (90 kHz) of any audio or video PES packet in an MPEG-TS
 * buffer, or undefined if there is none. This is what a player takes as the start of the stream's
 * timeline, and what a WebVTT X-TIMESTAMP-MAP's MPEGTS must name for cues to line up. Pure.
 */
export function firstPts (ts: Uint8Array): number | undefined {
  let min: number | undefined
  for (let at = 0; at + PACKET <= ts.length; at += PACKET) {
    if (ts[at] !== 0x47) continue
    const unitStart = (ts[at + 1]! & 0x40) !== 0
    const control = (ts[at + 3]! >> 4) & 3
    if (!unitStart || (control & 1) === 0) continue
    const p = at + 4 + ((control & 2) !== 0 ? 1 + ts[at + 4]! : 0)
    if (p + 14 > at + PACKET) continue
    if (ts[p] !== 0 || ts[p + 1] !== 0 || ts[p + 2] !== 1) continue
    const streamId = ts[p + 3]!
    if (streamId < 0xc0 || streamId > 0xef) continue
    if ((ts[p + 7]! & 0x80) === 0) continue
    const pts = ((ts[p + 9]! >> 1) & 7) * 2 ** 30 + ((ts[p + 10]! << 7) | (ts[p + 11]! >> 1)) * 2 ** 15 + ((ts[p + 12]! << 7) | (ts[p + 13]! >> 1))
    if (min === undefined || pts < min) min = pts
  }
  return min
}
