/**
 * The master playlist with the variant whose URI is `uri` moved to be the first one listed
 * (players such as Apple's start with the first variant). Every variant stays listed, in the same
 * relative order otherwise; anything else in the playlist is kept where it was. Pure.
 */
export function putVariantFirst (master: string, uri: string): string {
  const lines = master.split('\n')
  const isInf = (line: string): boolean => line.startsWith('#EXT-X-STREAM-INF:')
  const first = lines.findIndex(isInf)
  if (first === -1) return master
  for (let i = first; i < lines.length; i++) {
    if (!isInf(lines[i]!)) continue
    // The variant's URI is the next line that is neither blank nor a tag or comment.
    let u = i + 1
    while (u < lines.length && (lines[u]!.trim() === '' || lines[u]!.startsWith('#'))) u++
    if (u >= lines.length) break
    if (lines[u]!.trim() === uri) {
      if (i === first) return master
      const block = lines.splice(i, u - i + 1)
      lines.splice(first, 0, ...block)
      return lines.join('\n')
    }
    i = u
  }
  return master
}
