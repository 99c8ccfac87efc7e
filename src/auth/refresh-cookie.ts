/** The web UI's refresh token: HttpOnly (no script reads it), sent only to the auth routes, never cross-site. */
export const REFRESH_COOKIE = 'lectern_refresh'
const PATH = '/api/auth'

export function refreshCookie (token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${REFRESH_COOKIE}=${token}; Max-Age=${maxAgeSeconds}; Path=${PATH}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}

export function clearedRefreshCookie (secure: boolean): string {
  return `${REFRESH_COOKIE}=; Max-Age=0; Path=${PATH}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}

/** One cookie's value from a Cookie header; undefined when absent. */
export function readCookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
