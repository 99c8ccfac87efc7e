import http from 'node:http'

export interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
  /** local port of the connection, to tell whether requests shared one */
  localPort: number
}

/** One request over node:http (so HEAD, ranges and keep-alive are exactly what the wire carries). */
export function request (base: string, path: string, options: { method?: string, headers?: Record<string, string>, agent?: http.Agent } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (res) => {
      const pieces: Buffer[] = []
      res.on('data', (d: Buffer) => pieces.push(d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(pieces), localPort: res.socket?.localPort ?? req.socket?.localPort ?? -1 }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Splits a multipart/byteranges body into its parts. */
export function parseMultipart (body: Buffer, boundary: string): Array<{ headers: Record<string, string>, body: Buffer }> {
  const text = body.toString('latin1')
  const parts: Array<{ headers: Record<string, string>, body: Buffer }> = []
  const delimiter = `--${boundary}`
  let at = text.indexOf(delimiter)
  while (at !== -1) {
    const after = at + delimiter.length
    if (text.startsWith('--', after)) break
    const headEnd = text.indexOf('\r\n\r\n', after)
    const headers: Record<string, string> = {}
    for (const line of text.slice(after + 2, headEnd).split('\r\n')) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const next = text.indexOf(`\r\n${delimiter}`, headEnd + 4)
    parts.push({ headers, body: Buffer.from(text.slice(headEnd + 4, next), 'latin1') })
    at = next + 2
  }
  return parts
}
