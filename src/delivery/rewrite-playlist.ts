/**
 * Rewrites an HLS playlist (master or media) so every relative child URI carries `token=<token>`:
 * URI lines and the URI="..." attribute of tags (EXT-X-MAP, EXT-X-KEY, EXT-X-MEDIA,
 * EXT-X-I-FRAME-STREAM-INF, ...). An existing query is kept (a stale token parameter is replaced)
 * and a fragment stays last. Absolute URIs (with a scheme, or protocol-relative) point elsewhere
 * and are left alone, so the token never leaks to another origin. Line endings are preserved.
 */
export function rewritePlaylist (playlist: string, token: string): string {
  const param = 'token=' + encodeURIComponent(token)
  return playlist.replace(/^([^\r\n]*)/gm, (line) => {
    if (line.startsWith('#')) {
      if (!line.startsWith('#EXT')) return line
      return line.replace(/(URI=")([^"]*)(")/g, (_all, open: string, uri: string, close: string) => open + withParam(uri, param) + close)
    }
    const trimmed = line.trim()
    if (trimmed === '') return line
    return withParam(trimmed, param)
  })
}

function withParam (uri: string, param: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri) || uri.startsWith('//')) return uri
  const hashAt = uri.indexOf('#')
  const fragment = hashAt === -1 ? '' : uri.slice(hashAt)
  const rest = hashAt === -1 ? uri : uri.slice(0, hashAt)
  const q = rest.indexOf('?')
  if (q === -1) return `${rest}?${param}${fragment}`
  const path = rest.slice(0, q)
  const kept = rest.slice(q + 1).split('&').filter((p) => p !== '' && !p.startsWith('token=') && p !== 'token')
  kept.push(param)
  return `${path}?${kept.join('&')}${fragment}`
}
