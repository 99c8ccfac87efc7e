import net from 'node:net'
import t, { type Test } from 'tap'
import { buildTestApp } from './helpers/app.js'

// Found by a black-box probe: what Node's parser and Fastify's router answer by themselves must
// follow RFC 9112 and carry Date and Lectern's JSON error shape, with status, error and message agreeing.

const { app } = await buildTestApp(t)
await app.listen({ port: 0, host: '127.0.0.1' })
const port = (app.server.address() as net.AddressInfo).port

interface Raw { status: number, headers: Record<string, string>, body: string }

/** Sends bytes as they are (no client library would send these) and reads the answer until close. */
async function raw (text: string): Promise<Raw> {
  const out = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text))
    let data = ''
    socket.on('data', (d: Buffer) => { data += d.toString('latin1') })
    socket.on('close', () => resolve(data))
    socket.on('error', reject)
  })
  const end = out.indexOf('\r\n\r\n')
  const [statusLine, ...lines] = out.slice(0, end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
  return { status: Number(statusLine!.split(' ')[1]), headers, body: out.slice(end + 4) }
}

function errorAnswer (t: Test, res: Raw, status: number, error: string): void {
  t.equal(res.status, status)
  t.ok(res.headers.date !== undefined && !Number.isNaN(Date.parse(res.headers.date)), 'a Date header')
  t.match(res.headers['content-type'], /^application\/json/)
  const body = JSON.parse(res.body)
  t.match(body, { statusCode: status, code: /^LECTERN_ERR_/, error, message: String })
}

t.test('two Host header fields: 400 (RFC 9112, section 3.2), on every path', async (t) => {
  for (const path of ['/health/live', '/hls/00000000000000000000/360p/segment-00000.ts', '/api/search?q=x']) {
    const res = await raw(`GET ${path} HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n`)
    errorAnswer(t, res, 400, 'Bad Request')
    t.match(JSON.parse(res.body).message, /more than one Host/)
  }
  t.equal((await raw('GET /health/live HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n')).status, 200, 'one Host field is fine')
})

t.test("requests Node's parser refuses: 400 with Date and a JSON body", async (t) => {
  for (const request of [
    'GET /health/live HTTP/1.1\r\nHost : a.example\r\nConnection: close\r\n\r\n',
    'GET /health/live HTTP/1.1\r\nHost: a.example\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'NOT HTTP AT ALL\r\n\r\n'
  ]) {
    const res = await raw(request)
    errorAnswer(t, res, 400, 'Bad Request')
    t.equal(res.headers.connection, 'close')
  }
  const huge = await raw(`GET /health/live HTTP/1.1\r\nHost: a.example\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`)
  errorAnswer(t, huge, 431, 'Request Header Fields Too Large')
})

t.test('a path parameter over 100 characters: 414 whose status, error and message agree, and no echo', async (t) => {
  const long = 'a'.repeat(150)
  for (const path of [`/api/videos/${long}`, `/hls/${long}/360p/index.m3u8`, `/stream/${long}`]) {
    const res = await raw(`GET ${path} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`)
    errorAnswer(t, res, 414, 'URI Too Long')
    t.notMatch(res.body, 'aaaaaaaaaa', 'the URL is not repeated back')
  }
})

t.test('no error body repeats an unbounded piece of the request', async (t) => {
  const res = await raw(`GET /nowhere/${'b'.repeat(5000)} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`)
  t.equal(res.status, 404)
  t.ok(res.body.length < 400, `a 404 for a 5,000-character path is ${res.body.length} bytes`)
  t.match(JSON.parse(res.body).message, /^No route GET \/nowhere\/b+\.\.\. \(5009 characters\)$/)
})
