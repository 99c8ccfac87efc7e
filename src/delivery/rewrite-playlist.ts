/**
 * Rewrites an HLS playlist (master or media) so every relative child URI carries the given query
 * parameters (a playback token, a viewing session id): URI lines and the URI="..." attribute of
 * tags (EXT-X-MAP, EXT-X-KEY, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, ...). An existing query is
 * kept (a stale parameter of the same name is replaced) and a fragment stays last. Absolute URIs
 * (with a scheme, or protocol-relative) point elsewhere and are left alone, so a token never
 * leaks to another origin. Line endings are preserved.
 */
export function rewritePlaylist (playlist: string, params: Readonly<Record<string, string>>): string {
  const names = Object.keys(params)
  if (names.length === 0) return playlist
  const added = names.map((n) => `${n}=${encodeURIComponent(params[n]!)}`)
  return playlist.replace(/^([^\r\n]*)/gm, (line) => {
    if (line.startsWith('#')) {
      if (!line.startsWith('#EXT')) return line
      return line.replace(/(URI=")([^"]*)(")/g, (_all, open: string, uri: string, close: string) => open + withParams(uri, names, added) + close)
    }
    const trimmed = line.trim()
    if (trimmed === '') return line
    return withParams(trimmed, names, added)
  })
}

function withParams (uri: string, names: string[], added: string[]): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri) || uri.startsWith('//')) return uri
  const hashAt = uri.indexOf('#')
  const fragment = hashAt === -1 ? '' : uri.slice(hashAt)
  const rest = hashAt === -1 ? uri : uri.slice(0, hashAt)
  const q = rest.indexOf('?')
  if (q === -1) return `${rest}?${added.join('&')}${fragment}`
  const path = rest.slice(0, q)
  const kept = rest.slice(q + 1).split('&').filter((p) => p !== '' && !names.some((n) => p === n || p.startsWith(n + '=')))
  kept.push(...added)
  return `${path}?${kept.join('&')}${fragment}`
}
