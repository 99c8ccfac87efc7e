import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { fakeVideo, multipartBody } from '../plugins/multipart-body.js'

// What the fault tests share: a ladder of plain bytes (delivery does not look inside segments),
// and a client on a real socket whose every request is bounded, so a hang fails the test with a
// message instead of holding it until tap's timeout.

/** Longer than any answer Lectern should take while a dependency is away (its own bounds are 5-20 s). */
export const HANG_MS = 40_000

/** Two renditions of three segments each, a master and media playlists, a poster and an MP4. */
export function byteLadder (): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  const master = ['#EXTM3U', '#EXT-X-VERSION:3']
  for (const rung of ['360p', '180p']) {
    const media = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:1', '#EXT-X-PLAYLIST-TYPE:VOD']
    for (let i = 0; i < 3; i++) {
      const name = `segment-${String(i).padStart(5, '0')}.ts`
      files.set(`${rung}/${name}`, randomBytes(96 * 1024 + i))
      media.push('#EXTINF:1.000000,', name)
    }
    media.push('#EXT-X-ENDLIST')
    files.set(`${rung}/index.m3u8`, Buffer.from(media.join('\n') + '\n'))
    master.push('#EXT-X-STREAM-INF:BANDWIDTH=700000', `${rung}/index.m3u8`)
  }
  files.set('master.m3u8', Buffer.from(master.join('\n') + '\n'))
  files.set('poster.jpg', randomBytes(2048))
  // Three 1 MiB chunks, so a range can be cached while another is not.
  files.set('progressive.mp4', randomBytes(2 * 1024 * 1024 + 4096))
  return files
}

export interface Answer {
  status: number
  headers: Headers
  body: Buffer
  /** The body as JSON, or undefined when it is not JSON. */
  json: Record<string, any> | undefined
}

/** One request through fetch on the socket, failing (not hanging) after HANG_MS. */
export async function call (base: string, path: string, init: RequestInit = {}): Promise<Answer> {
  let res: Response
  try {
    res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(HANG_MS) })
  } catch (err) {
    throw new Error(`${init.method ?? 'GET'} ${path} got no answer: ${(err as Error).message}`, { cause: err })
  }
  const body = Buffer.from(await res.arrayBuffer())
  let json: Record<string, any> | undefined
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {}
  return { status: res.status, headers: res.headers, body, json }
}

/** Polls check every 250 ms until it holds, for at most timeoutMs; false if it never did. */
export async function until (check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/** Listens on 127.0.0.1, port 0; returns the base URL. */
export async function listen (app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return `http://127.0.0.1:${address.port}`
}

/** Registers an account through the API (the first one of an app is its admin, who may upload). */
export async function signUp (base: string, name: string): Promise<{ authorization: string }> {
  const res = await call(base, '/api/auth/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `${name}@example.org`, password: 'correct horse battery', name })
  })
  if (res.status !== 201) throw new Error(`register: ${res.status} ${res.body.toString()}`)
  return { authorization: `Bearer ${res.json!.token as string}` }
}

/**
 * The 503 a user gets while a dependency is away: Lectern's error shape, the code and message
 * expected, a Retry-After, and nothing about where the dependency lives.
 */
export function isUnavailable (t: Test, res: Answer, code: string, words: RegExp, what: string): void {
  t.equal(res.status, 503, `${what}: 503 (${res.body.toString().slice(0, 300)})`)
  t.equal(res.json?.code, code, `${what}: code ${code}`)
  t.equal(res.json?.error, 'Service Unavailable', `${what}: error`)
  t.match(res.json?.message, words, `${what}: a message that says what is away`)
  t.match(res.json?.message, /try again/, `${what}: and what to do`)
  t.notMatch(res.body.toString(), /127\.0\.0\.1|localhost|:\d{4,5}\b|ECONN|Mongo|at \w+ \(/, `${what}: no host, port, driver or stack`)
  t.ok(res.headers.get('retry-after') !== null, `${what}: Retry-After`)
}

/** /health/ready while `away` is unreachable: 503, it down and the other up, an outage going on that says what was seen. */
export async function outageGoingOn (t: Test, base: string, away: 'database' | 'storage', seen: RegExp): Promise<void> {
  const during = await call(base, '/health/ready')
  t.equal(during.status, 503, `not ready while the ${away} is away`)
  t.equal(during.json?.dependencies[away], 'down')
  t.equal(during.json?.dependencies[away === 'database' ? 'storage' : 'database'], 'ok')
  const open = during.json?.outages[away][0]
  t.equal(open?.to, null, 'an outage going on')
  t.match(open?.error, seen, `with what was seen (${JSON.stringify(open)})`)
  t.equal((await call(base, '/health/live')).status, 200, 'the process is up')
}

/** The titles of a video list answer, sorted. */
export const titles = (res: Answer): string[] => (res.json?.items as Array<{ title: string }>).map((v) => v.title).sort()

/** `POST /api/videos` of a small fake video titled `title`, as `call` (or `timedCall`) sends it. */
export function uploadInit (auth: { authorization: string }, title: string, size = 256 * 1024): RequestInit {
  const { payload, headers } = multipartBody([{ name: 'title', value: title }, { name: 'file', filename: 'lecture.mp4', content: fakeVideo(size) }])
  return { method: 'POST', headers: { ...headers, ...auth }, body: payload }
}
